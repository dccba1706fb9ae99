"""Scope checks for API keys: a view declares the scope each method needs."""

from rest_framework.permissions import BasePermission

from accounts.models import ApiKey
from levqor.errors import ApiError


def request_api_key(request) -> ApiKey | None:
    """The API key that authenticated the request, or None (a session, or nobody)."""
    return request.auth if isinstance(request.auth, ApiKey) else None


def key_has_scope(request, scope: str) -> bool:
    api_key = request_api_key(request)
    return api_key is not None and scope in (api_key.scopes or [])


class HasScope(BasePermission):
    """403 insufficient_scope unless the request's API key holds the scope the view declares for
    this method in `required_scopes` ({"GET": "users:read", ...}; HEAD counts as GET).

    Scopes limit keys, not people: a signed-in session (the browsable API) is not limited by them,
    and who may see which rows is still decided by the view."""

    def has_permission(self, request, view):
        required = getattr(view, "required_scopes", {})
        scope = required.get(request.method) or (required.get("GET") if request.method == "HEAD" else None)
        api_key = request_api_key(request)
        if scope is None or api_key is None or scope in (api_key.scopes or []):
            return True
        raise ApiError("insufficient_scope", f"This API key does not hold the {scope} scope.", status_code=403,
                       details={"required_scope": scope, "key_scopes": list(api_key.scopes or [])})
