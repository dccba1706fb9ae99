"""The governance policy's forbidden paths, refused to partner credentials before any view runs."""

import posixpath
import re
from urllib.parse import unquote, urlsplit

from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response
from partners.services.policy import policy_current
from partners.signing import HEADER_KEY_ID

_META_KEY_ID = "HTTP_" + HEADER_KEY_ID.upper().replace("-", "_")
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


class PartnerPathPolicyMiddleware:
    """A request that carries X-Levqor-Key-Id (a partner credential, valid or not) to a path under
    one of policy_current().forbidden_paths is refused 403 path_forbidden, before any view runs.
    Both the path routed on and the raw one sent are checked. Other requests cost nothing here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _META_KEY_ID in request.META:
            forbidden = policy_current().forbidden_paths
            raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI") or ""
            raw = raw.partition("?")[0] if raw.startswith("/") else urlsplit(raw).path
            for candidate in (request.path_info, request.path, raw):
                entry = candidate and path_forbidden(candidate, forbidden)
                if entry:
                    return error_response(AppError(
                        ErrorCode.PATH_FORBIDDEN, "The governance policy forbids partner credentials on this path.",
                        details={"forbidden_path": entry}))
        return self.get_response(request)
