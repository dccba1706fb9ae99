"""Scopes: what an API key may do. Every API view declares the scope it needs."""

from rest_framework.permissions import BasePermission

from accounts.models import OPERATOR_SCOPE, ApiKey
from accounts.services import key_auth
from levqor.errors import AppError, ErrorCode

# HEAD reads what GET reads; OPTIONS only describes the endpoint, so it needs no scope.
_METHOD_ALIASES = {"HEAD": "GET"}


def scope_required(view, method: str) -> str | None:
    """The scope a request with this method needs on this view ("" = none beyond authentication).
    A view declares `required_scopes`: one scope for every method, or a {method: scope} mapping.
    None when the view declares nothing for the method, which HasScope refuses (fail closed)."""
    if not hasattr(view, method.lower()):
        return ""  # DRF answers 405 next; a scope error would hide that the method does not exist
    declared = getattr(view, "required_scopes", None)
    if declared is None:
        return None
    if isinstance(declared, str):
        return declared
    method = _METHOD_ALIASES.get(method, method)
    if method == "OPTIONS":
        return ""
    return declared.get(method)


class HasScope(BasePermission):
    """A request by API key must hold the scope the view declares for its method. A signed-in
    person (session, e.g. staff in the browsable API) is not limited by scopes: scopes narrow
    what a key can do, not what its owner can."""

    def has_permission(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        # The scope check of every request path (the intake fast path makes it in
        # key_auth.api_key_authenticate_request); on DRF's it is this permission, after authentication.
        key_auth.api_key_scope_check(api_key, scope_required(view, request.method))
        return True


def request_api_key(request) -> ApiKey | None:
    """The API key that authenticated the request, or None (a session, or nobody)."""
    return request.auth if isinstance(request.auth, ApiKey) else None


def request_livemode(request) -> bool:
    """The request's mode: a test-mode key's (lvk_test_: test-mode data, Stripe's test mode), else live
    (a live key, or a session)."""
    api_key = request_api_key(request)
    return api_key.livemode if api_key is not None else True


def key_has_scope(request, scope: str) -> bool:
    api_key = request_api_key(request)
    return api_key is not None and scope in (api_key.scopes or [])


def request_is_operator(request) -> bool:
    """The one operator check: a signed-in staff member (session), or a staff member's key holding
    admin:read. Staff is re-read from the request's user on every request, so a key whose owner lost
    the staff flag stops acting as an operator at once, whatever scopes it holds."""
    user = getattr(request, "user", None)
    if not (user is not None and user.is_authenticated and user.is_active and user.is_staff):
        return False
    auth = getattr(request, "auth", None)
    if auth is None:
        return True  # a session
    # A key must hold admin:read; any other credential (a partner's signature) is never an operator's.
    return isinstance(auth, ApiKey) and OPERATOR_SCOPE in (auth.scopes or [])


class IsOperator(BasePermission):
    """Operators only (request_is_operator). A key without admin:read is told the scope it lacks
    (403 insufficient_scope); anyone else who is not an operator gets 403 permission_denied."""

    def has_permission(self, request, view):
        if request_api_key(request) is not None and not key_has_scope(request, OPERATOR_SCOPE):
            raise AppError(ErrorCode.INSUFFICIENT_SCOPE, f"This API key does not hold the {OPERATOR_SCOPE} scope.",
                           details={"required_scope": OPERATOR_SCOPE,
                                    "key_scopes": list(request_api_key(request).scopes or [])})
        if not request_is_operator(request):
            raise AppError(ErrorCode.PERMISSION_DENIED, "Only Levqor staff (operators) may do this.")
        return True
