"""The governance policy's forbidden paths, as pure functions: whether a path falls under one.
Used by the partner path middleware (requests) and by the marketplace's listing checks (a module's
endpoint path); nothing here touches a request or the database."""

import posixpath
import re
from urllib.parse import unquote

_DECODE_ROUNDS = 4  # "%252561" takes three; more is no path anyone sends on purpose


def path_normalised(path: str) -> str:
    """The path as a router could end up seeing it: percent-decoded until nothing changes (so
    /%61dmin/ and /%2561dmin/ are /admin/), backslashes as slashes, repeated slashes as one,
    dot segments resolved, lower case. A trailing slash is kept."""
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote(path)
        if decoded == path:
            break
        path = decoded
    path = re.sub(r"/+", "/", "/" + path.replace("\\", "/"))
    trailing = path.endswith("/") and path != "/"
    path = posixpath.normpath(path)
    if trailing and path != "/":
        path += "/"
    return path.lower()


def path_forbidden(path: str, forbidden_paths) -> str | None:
    """The forbidden entry `path` falls under (prefix match on the normalised path; an entry
    ending in "/" also covers the path without it: /admin/ covers /admin), or None."""
    normal = path_normalised(path)
    for entry in forbidden_paths or ():
        prefix = path_normalised(str(entry))
        if normal.startswith(prefix) or normal == prefix.rstrip("/"):
            return str(entry)
    return None
