"""The terms gate: a signed-in person must accept the current terms before using the product."""

from urllib.parse import urlencode

from django.http import HttpResponseRedirect

from compliance.selectors import terms_accepted, terms_current
from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response

PROTECTED_PREFIXES = ("/workflow", "/dashboard", "/account", "/settings", "/developer", "/api/workflows", "/partners",
                      "/webhooks")
ACCEPT_PATH = "/legal/accept-terms"
SESSION_KEY = "compliance_terms_accepted_id"


def path_protected(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PROTECTED_PREFIXES)


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


class TermsMiddleware:
    """Signed-in (session) users on a protected path who have not accepted the current terms are
    sent to the acceptance page (JSON clients get 403 terms_not_accepted). At most one query
    per page view: the current version is cached, and an acceptance seen once is remembered
    in the session until a newer version is published."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not path_protected(request.path):
            return self.get_response(request)
        current = terms_current()
        if current is None or request.session.get(SESSION_KEY) == current.id:
            return self.get_response(request)
        if terms_accepted(user=user, version_id=current.id):
            request.session[SESSION_KEY] = current.id
            return self.get_response(request)
        if _wants_json(request):
            return error_response(AppError(ErrorCode.TERMS_NOT_ACCEPTED,
                                           f"Accept the terms of service (version {current.version}) to continue.",
                                           details={"terms_version": current.version, "accept_url": ACCEPT_PATH}))
        return HttpResponseRedirect(f"{ACCEPT_PATH}?{urlencode({'returnTo': request.get_full_path()})}")
