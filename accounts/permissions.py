"""Scopes: what an API key may do. Every API view declares the scope it needs."""

from rest_framework.permissions import BasePermission

from accounts.models import ApiKey
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


def insufficient_scope(scope: str | None, api_key: ApiKey):
    message = (f"This API key lacks the {scope} scope this request needs." if scope else
               "This endpoint declares no scope, so no API key may use it.")
    return AppError(ErrorCode.INSUFFICIENT_SCOPE, message,
                    details={"required_scope": scope, "key_scopes": list(api_key.scopes)})


class HasScope(BasePermission):
    """A request by API key must hold the scope the view declares for its method. A signed-in
    person (session, e.g. staff in the browsable API) is not limited by scopes: scopes narrow
    what a key can do, not what its owner can."""

    def has_permission(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        scope = scope_required(view, request.method)
        if scope is None or (scope and scope not in api_key.scopes):
            raise insufficient_scope(scope, api_key)
        return True


def request_api_key(request) -> ApiKey | None:
    """The API key that authenticated the request, or None (a session, or nobody)."""
    return request.auth if isinstance(request.auth, ApiKey) else None


def key_has_scope(request, scope: str) -> bool:
    api_key = request_api_key(request)
    return api_key is not None and scope in (api_key.scopes or [])
