"""DRF authentication by API key: X-Api-Key, or Authorization: Bearer <key>."""

from rest_framework import authentication, exceptions

from accounts.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = request.headers.get("X-Api-Key", "")
        if not raw:
            header = request.headers.get("Authorization", "")
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                return None
            raw = value.strip()
        api_key = api_key_authenticate(raw.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid, or was revoked or expired.")
        return api_key.owner, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
