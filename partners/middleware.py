"""The governance policy's forbidden paths, refused to partner credentials before any view runs."""

from urllib.parse import urlsplit

from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response
from partners.paths import path_forbidden
from partners.services.policy import policy_current
from partners.signing import HEADER_KEY_ID

_META_KEY_ID = "HTTP_" + HEADER_KEY_ID.upper().replace("-", "_")


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
