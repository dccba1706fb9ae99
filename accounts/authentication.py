"""DRF authentication by API key: X-Api-Key, or Authorization: Bearer <key>."""

from rest_framework import authentication, exceptions

from accounts.client_ip import client_ip
from accounts.services import api_key_authenticate


def api_key_from_headers(headers) -> str | None:
    """The raw key a request presents (X-Api-Key, else Authorization: Bearer), or None when it
    presents none (a blank X-Api-Key is presented, and refused)."""
    raw = headers.get("X-Api-Key", "")
    if raw:
        return raw.strip()
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = api_key_from_headers(request.headers)
        if raw is None:
            return None
        api_key = api_key_authenticate(raw, ip=client_ip(request))
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid, or was revoked or expired.")
        return api_key.owner, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
