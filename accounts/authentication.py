"""DRF authentication by API key: X-Api-Key, or Authorization: Bearer <key>."""

from rest_framework import authentication, exceptions

from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_hash, api_key_owner_tier


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


def api_key_rate_bucket(request) -> tuple[str, str] | None:
    """(bucket, tier) of the key a request presents, for levqor.ratelimit's per-key limit (its
    RATELIMIT_KEY_TIER_FUNCTION): the key's hash, never the key, names the bucket. None when
    the request presents no key, or none that could be valid."""
    raw = api_key_from_headers(request.headers)
    if not raw or not raw.startswith((ApiKey.LIVE_PREFIX, ApiKey.TEST_PREFIX)) or len(raw) > 100:
        return None
    digest = api_key_hash(raw)
    tier = api_key_owner_tier(digest)
    return (digest, tier) if tier else None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = api_key_from_headers(request.headers)
        if raw is None:
            return None
        api_key = api_key_authenticate(raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed("The API key is not valid, or was revoked or expired.")
        return api_key.owner, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
