"""The site's rate limits, as one middleware (so the intake fast path, which skips DRF, is covered
as much as any DRF view): per minute, writes per client IP on /api/, all of /api/ together, per
client IP on the old service's sensitive prefixes, and per API key by its owner's tier. Counted
by levqor.counters in one round trip on Redis, which also carries what the rest of the request
would otherwise ask the cache for (RATELIMIT_TRIP_FUNCTION: the API keys' generation and the
monthly quota's hit, see accounts.authentication.api_key_trip_extras); the trip is left for the
code below (levqor.counters.request_trip) for the length of the request."""

from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from levqor.client_ip import client_ip
from levqor.counters import (
    COUNTERS_DOWN,
    Counter,
    Usage,
    count_request,
    last_to_reset,
    request_trip_reset,
    request_trip_set,
    trip_take_back,
)
from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response, store_down_response

PERIOD_SECONDS = 60  # the middleware's limits are per minute
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# --- the site's limits, per request --------------------------------------------------------------


# The bucket of every request whose client address cannot be read (levqor.client_ip gives None).
UNKNOWN_IP_BUCKET = "unknown"


def ratelimit_ip(request) -> str:
    """The client IP a per-IP limit counts under: requests without a readable address share one bucket."""
    return client_ip(request) or UNKNOWN_IP_BUCKET


def counters_for(request) -> list[Counter]:
    """The limits that apply to this request (none for health, ops, admin and pages, nor for
    RATELIMIT_EXEMPT_PATHS)."""
    path = request.path_info
    if path in settings.RATELIMIT_EXEMPT_PATHS:
        return []
    on_api = path.startswith("/api/")
    sensitive = path.startswith(settings.RATELIMIT_SENSITIVE_PREFIXES)
    if not on_api and not sensitive:
        return []
    ip = ratelimit_ip(request)
    counters = []
    if on_api:
        counters.append(Counter("api-global", "all", settings.RATELIMIT_GLOBAL, PERIOD_SECONDS))
        if request.method in WRITE_METHODS:
            counters.append(Counter("api-writes-ip", ip, settings.RATELIMIT_WRITES_PER_IP, PERIOD_SECONDS))
        bucket = _key_tier_function()(request)
        if bucket is not None:
            key_bucket, tier = bucket
            limit = settings.RATELIMIT_PER_KEY_BY_TIER.get(tier)
            if limit is not None:
                # The tier is part of the group: an upgrade starts a fresh bucket at the new size.
                counters.append(Counter(f"api-key-{tier}", key_bucket, limit, PERIOD_SECONDS))
    if sensitive:
        counters.append(Counter("sensitive-ip", ip, settings.RATELIMIT_SENSITIVE_PER_IP, PERIOD_SECONDS))
    return counters


@lru_cache(maxsize=1)
def _key_tier_function():
    return import_string(settings.RATELIMIT_KEY_TIER_FUNCTION)


@lru_cache(maxsize=1)
def _trip_function():
    return import_string(settings.RATELIMIT_TRIP_FUNCTION) if settings.RATELIMIT_TRIP_FUNCTION else None


def _clear(*, setting, **kwargs):
    if setting == "RATELIMIT_KEY_TIER_FUNCTION":
        _key_tier_function.cache_clear()
    if setting == "RATELIMIT_TRIP_FUNCTION":
        _trip_function.cache_clear()


def _trip_extras(request) -> tuple[tuple[str, ...], object, tuple]:
    """(reads, hard limit, adds) the rest of the request wants in the counters' round trip (the trip
    function may leave out the adds)."""
    function = _trip_function()
    extras = function(request) if function is not None else None
    if extras is None:
        return (), None, ()
    return extras if len(extras) == 3 else (*extras, ())


setting_changed.connect(_clear)


def _headers(response, usage: Usage) -> None:
    response["X-RateLimit-Limit"] = str(usage.counter.limit)
    response["X-RateLimit-Remaining"] = str(usage.remaining)
    response["X-RateLimit-Reset"] = str(usage.reset_at)


class RateLimitMiddleware:
    """Answers 429 rate_limited when any limit that applies is exceeded; otherwise passes the
    request on and labels the response with the tightest limit (fewest requests left)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            counters = counters_for(request) if settings.RATELIMIT_ENABLE else []
            if not counters:
                return self.get_response(request)
            reads, hard, adds = _trip_extras(request)
            trip = count_request(counters, reads=reads, hard=hard, adds=adds)
        except COUNTERS_DOWN:
            # Without its counters no limit can be kept: say so rather than serve unlimited.
            return store_down_response()
        usages = trip.usages
        usage = last_to_reset(usages)
        if usage is not None:
            retry_after = usage.retry_after
            response = error_response(AppError(
                ErrorCode.RATE_LIMITED,
                f"Too many requests: the limit is {usage.counter.limit} a minute. Retry in {retry_after} s.",
                details={"limit": usage.counter.limit, "scope": usage.counter.group, "retry_after_seconds": retry_after},
                retry_after=retry_after,
            ))
            _headers(response, usage)
            return response
        token = request_trip_set(trip)
        try:
            response = self.get_response(request)
        finally:
            request_trip_reset(token)
            # A quota hit counted for a request answered before its key was checked (413, 404...).
            trip_take_back(trip)
        _headers(response, min(usages, key=lambda u: (u.remaining, u.counter.limit)))
        return response
