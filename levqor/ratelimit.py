"""Rate limits for the whole site, as one middleware (so the intake fast path, which skips DRF,
is covered as much as any DRF view).

Per minute, fixed windows (django_ratelimit's): writes per client IP on /api/, all of /api/
together, per client IP on the old service's sensitive prefixes, and per API key by its owner's
tier. Counters live in the default cache: Redis with REDIS_URL, so every web process and machine
counts into the same buckets; the local-memory cache in the embedded single-process mode.

On Redis all counters of a request are counted in one pipelined round trip, under the same cache
keys django_ratelimit's get_usage would use; on any other cache, get_usage itself counts them.
"""

import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.utils.module_loading import import_string
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, get_usage

from levqor.client_ip import client_ip
from levqor.errors import STORE_DOWN, error_response, store_down_response

PERIOD_SECONDS = 60
# The counters' store cannot be reached: the request is refused as unavailable, not crashed.
_STORE_DOWN = (*STORE_DOWN, OSError)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Counter:
    group: str  # which limit: "api-writes-ip", "api-global", "sensitive-ip", "api-key-<tier>"
    value: str  # whose bucket: an IP, "all", a key's hash
    limit: int


@dataclass(frozen=True)
class Usage:
    counter: Counter
    count: int
    reset_at: int  # epoch seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.counter.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.counter.limit


# The bucket of every request whose client address cannot be read (levqor.client_ip gives None).
UNKNOWN_IP_BUCKET = "unknown"


def ratelimit_ip(request) -> str:
    """The client IP a per-IP limit counts under (also django_ratelimit's RATELIMIT_IP_META_KEY,
    so its "ip" keys see the same value): requests without a readable address share one bucket."""
    return client_ip(request) or UNKNOWN_IP_BUCKET


def counters_for(request) -> list[Counter]:
    """The limits that apply to this request (none for health, ops, admin and pages)."""
    path = request.path_info
    on_api = path.startswith("/api/")
    sensitive = path.startswith(settings.RATELIMIT_SENSITIVE_PREFIXES)
    if not on_api and not sensitive:
        return []
    ip = ratelimit_ip(request)
    counters = []
    if on_api:
        counters.append(Counter("api-global", "all", settings.RATELIMIT_GLOBAL))
        if request.method in WRITE_METHODS:
            counters.append(Counter("api-writes-ip", ip, settings.RATELIMIT_WRITES_PER_IP))
        bucket = _key_tier_function()(request)
        if bucket is not None:
            key_bucket, tier = bucket
            limit = settings.RATELIMIT_PER_KEY_BY_TIER.get(tier)
            if limit is not None:
                # The tier is part of the group: an upgrade starts a fresh bucket at the new size.
                counters.append(Counter(f"api-key-{tier}", key_bucket, limit))
    if sensitive:
        counters.append(Counter("sensitive-ip", ip, settings.RATELIMIT_SENSITIVE_PER_IP))
    return counters


@lru_cache(maxsize=1)
def _key_tier_function():
    return import_string(settings.RATELIMIT_KEY_TIER_FUNCTION)


def _clear(*, setting, **kwargs):
    if setting == "RATELIMIT_KEY_TIER_FUNCTION":
        _key_tier_function.cache_clear()


setting_changed.connect(_clear)


def _is_redis(cache) -> bool:
    return type(cache).__module__.startswith("django_redis")


def _count_on_redis(cache, counters: list[Counter]) -> list[Usage]:
    """INCR every counter in one round trip. SET NX EX first gives a new window's key its
    expiry, as django_ratelimit's cache.add does."""
    ttl = PERIOD_SECONDS + EXPIRATION_FUDGE
    windows = [_get_window(c.value, PERIOD_SECONDS) for c in counters]
    keys = [cache.client.make_key(_make_cache_key(c.group, w, (c.limit, PERIOD_SECONDS), c.value, ALL))
            for c, w in zip(counters, windows, strict=True)]
    pipe = cache.client.get_client(write=True).pipeline(transaction=False)
    for key in keys:
        pipe.set(key, 0, ex=ttl, nx=True)
        pipe.incr(key)
    counts = pipe.execute()[1::2]
    return [Usage(c, int(n), w) for c, n, w in zip(counters, counts, windows, strict=True)]


def _count_with_get_usage(request, counters: list[Counter]) -> list[Usage]:
    now = int(time.time())
    usages = []
    for c in counters:
        usage = get_usage(request, group=c.group, key=lambda group, request, value=c.value: value,
                          rate=(c.limit, PERIOD_SECONDS), method=ALL, increment=True)
        if usage is not None:
            usages.append(Usage(c, usage["count"] if usage["limit"] else c.limit + 1, now + usage["time_left"]))
    return usages


def count(request, counters: list[Counter]) -> list[Usage]:
    """Count this request into each of its counters and return where each stands."""
    if not counters or not settings.RATELIMIT_ENABLE:
        return []
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if _is_redis(cache):
        return _count_on_redis(cache, counters)
    return _count_with_get_usage(request, counters)


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
            usages = count(request, counters_for(request))
        except _STORE_DOWN:
            # Without its counters no limit can be kept: say so rather than serve unlimited.
            return store_down_response()
        if not usages:
            return self.get_response(request)
        exceeded = [u for u in usages if u.exceeded]
        if exceeded:
            # Every exceeded limit must have reset before a retry can pass: report the last to reset.
            usage = max(exceeded, key=lambda u: (u.reset_at, -u.counter.limit))
            retry_after = max(1, usage.reset_at - int(time.time()))
            response = error_response(
                "rate_limited",
                f"Too many requests: the limit is {usage.counter.limit} a minute. Retry in {retry_after} s.",
                429,
                {"limit": usage.counter.limit, "scope": usage.counter.group, "retry_after_seconds": retry_after},
            )
            response["Retry-After"] = str(retry_after)
            _headers(response, usage)
            return response
        response = self.get_response(request)
        _headers(response, min(usages, key=lambda u: (u.remaining, u.counter.limit)))
        return response
