"""DRF authentication by API key: X-Api-Key, or Authorization: Bearer <key>."""

from django.urls import Resolver404, resolve
from rest_framework import authentication, exceptions

from accounts.services import key_auth
from levqor.client_ip import client_ip
from levqor.errors import API_KEY_CHALLENGE

API_PREFIX = "/api/v1/"


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
    if not raw or not key_auth.api_key_looks_valid(raw):
        return None
    digest = key_auth.api_key_hash(raw)
    tier = key_auth.api_key_owner_tier(digest)
    return (digest, tier) if tier else None


def api_key_trip_extras(request):
    """What the rate limiter's round trip carries for a request presenting a key (levqor.ratelimit's
    RATELIMIT_TRIP_FUNCTION): the keys' generation, and the owner's monthly quota hit when the
    request goes to a view that is counted from the start (`quota_counted_early`: the intake,
    whose every call by a valid key counts). None without a plausible key. A hit counted for a
    request that is then not counted (answered before its key is checked) is taken back."""
    raw = api_key_from_headers(request.headers)
    if not raw or not key_auth.api_key_looks_valid(raw):
        return None
    return key_auth.api_key_trip_extras_for(key_auth.api_key_hash(raw), count=_counted_early(request.path_info))


_EARLY_PATHS_MAX = 1_000
_counted_early_paths: dict[str, bool] = {}


def _counted_early(path: str) -> bool:
    """Whether the view at this path is marked quota_counted_early (remembered per path)."""
    early = _counted_early_paths.get(path)
    if early is None:
        try:
            match = resolve(path)
        except Resolver404:
            early = False
        else:
            early = path.startswith(API_PREFIX) and bool(getattr(match.func, "quota_counted_early", False))
        if len(_counted_early_paths) >= _EARLY_PATHS_MAX:
            _counted_early_paths.clear()
        _counted_early_paths[path] = early
    return early


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """DRF's side of key_auth.api_key_authenticate_request, the one check of a request's key:
    it authenticates and counts the request against the owner's monthly quota (a 429
    quota_exceeded refuses it before the view runs). A view with counts_against_quota = False
    (reading one's usage) is not counted; nor is anything outside /api/v1/. The scope is left
    to the HasScope permission (the same check, after authentication), so views that declare
    none and do not ask for it (the OpenAPI schema) still serve a key."""

    keyword = "Bearer"

    def authenticate(self, request):
        raw = api_key_from_headers(request.headers)
        if raw is None:
            return None  # no key: another authenticator (the session) may still say who it is
        view = (request.parser_context or {}).get("view")
        counted = request.path.startswith(API_PREFIX) and getattr(view, "counts_against_quota", True)
        try:
            api_key = key_auth.api_key_authenticate_request(raw, ip=client_ip(request), scope="", counted=counted)
        except key_auth.ApiKeyInvalid as exc:
            # DRF's own refusal, so DRF treats it as failed authentication (and adds the challenge
            # of authenticate_header); the exception handler answers it as invalid_api_key.
            raise exceptions.AuthenticationFailed(exc.message) from exc
        return api_key.owner, api_key

    def authenticate_header(self, request):
        return API_KEY_CHALLENGE
