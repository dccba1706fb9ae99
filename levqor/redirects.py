"""Where to send someone after a step (sign-in, accepting the terms, cookie settings): only a
path on this site, whatever a link or a form says."""

from django.utils.http import url_has_allowed_host_and_scheme

DEFAULT_RETURN_TO = "/dashboard"


def safe_return_to(value: str | None, *, default: str = DEFAULT_RETURN_TO) -> str:
    """value when it is a same-site path; anything else (other hosts, schemes, protocol-relative
    //host, backslash tricks) gives default."""
    value = (value or "").strip()
    if (value.startswith("/") and not value.startswith(("//", "/\\"))
            and url_has_allowed_host_and_scheme(value, allowed_hosts=None, require_https=False)):
        return value[:512]
    return default
