"""Rate limits: fixed-window hit counters in the shared cache (count_hits, count_hit), and the
middleware that applies the site's limits to every request (one middleware, so the intake fast
path, which skips DRF, is covered as much as any DRF view). Sign-in links count theirs with the
same functions (accounts.login).

The counting scheme is ours (no library's private key or window format):
- a counter is a named limit (`group`), whose hits it counts (`value`: an IP, a key's hash, an
  address's digest), how many hits it allows (`limit`) and its window length (`period`, seconds);
- windows are fixed, `period` long, and shifted per bucket by crc32(group, value) % period
  seconds, so that not every bucket resets in the same second;
- a window's count lives under RATELIMIT_CACHE_PREFIX + sha256(group, value, period, window
  end) in RATELIMIT_USE_CACHE (the default cache), set to expire period + a few seconds after the
  window's first hit, so never before the window ends. The limit is not in the key: it is judged
  against the count.
Time is Django's clock (timezone.now), so tests move it with their clock fixture.

Counters live in the default cache: Redis with REDIS_URL, so every web process and machine counts
into the same buckets, and all counters of a call are counted in one pipelined round trip; the
local-memory cache in the embedded single-process mode (an add, then an incr, per counter).
"""

import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.signals import setting_changed
from django.utils import timezone
from django.utils.module_loading import import_string
from django_redis import get_redis_connection

from levqor.client_ip import client_ip
from levqor.errors import AppError, ErrorCode
from levqor.http_errors import STORE_DOWN, error_response, store_down_response

PERIOD_SECONDS = 60  # the middleware's limits are per minute
# A window's counter outlives the window by this much, so a process whose clock runs a little
# behind still finds it.
EXPIRY_MARGIN_SECONDS = 5
# The counters' store cannot be reached: the request is refused as unavailable, not crashed.
_STORE_DOWN = (*STORE_DOWN, OSError)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Counter:
    group: str  # which limit: "api-writes-ip", "api-global", "login-link-ip", ...
    value: str  # whose bucket: an IP, "all", a key's hash
    limit: int  # hits allowed per window
    period: int  # window length, seconds


@dataclass(frozen=True)
class Usage:
    counter: Counter
    count: int  # hits in this window, this one included
    reset_at: int  # epoch seconds when the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.counter.limit - self.count)

    @property
    def exceeded(self) -> bool:
        return self.count > self.counter.limit

    @property
    def retry_after(self) -> int:
        """Seconds until this window ends (at least 1): when a refused hit may be tried again."""
        return max(1, self.reset_at - _now())


def _now() -> int:
    return int(timezone.now().timestamp())


def _window_end(counter: Counter, now: int) -> int:
    """End of the window that holds `now`: windows start at offset + k * period."""
    offset = zlib.crc32(f"{counter.group}\0{counter.value}".encode()) % counter.period
    return now + counter.period - (now - offset) % counter.period


def _cache_key(counter: Counter, window_end: int) -> str:
    raw = f"{counter.group}\0{counter.value}\0{counter.period}\0{window_end}".encode()
    return settings.RATELIMIT_CACHE_PREFIX + hashlib.sha256(raw).hexdigest()


def _is_redis(cache) -> bool:
    return type(cache).__module__.startswith("django_redis")


def _count_on_redis(cache, counters: Sequence[Counter], ends: list[int]) -> list[int]:
    """INCR every counter in one round trip; SET NX EX first gives a new window's counter its
    expiry. The keys are the cache's own (its KEY_PREFIX and version), so the cache API reads
    and clears them like any other entry."""
    pipe = get_redis_connection(settings.RATELIMIT_USE_CACHE, write=True).pipeline(transaction=False)
    for counter, end in zip(counters, ends, strict=True):
        key = cache.make_key(_cache_key(counter, end))
        pipe.set(key, 0, ex=counter.period + EXPIRY_MARGIN_SECONDS, nx=True)
        pipe.incr(key)
    return [int(n) for n in pipe.execute()[1::2]]


def _count_in_cache(cache, counters: Sequence[Counter], ends: list[int]) -> list[int]:
    """Any other cache: add the counter at 1 for a new window, else incr it."""
    counts = []
    for counter, end in zip(counters, ends, strict=True):
        key, timeout = _cache_key(counter, end), counter.period + EXPIRY_MARGIN_SECONDS
        if cache.add(key, 1, timeout):
            counts.append(1)
            continue
        try:
            counts.append(cache.incr(key))
        except ValueError:  # the counter expired between add and incr: a new window's first hit
            cache.add(key, 1, timeout)
            counts.append(1)
    return counts


def count_hits(counters: Sequence[Counter]) -> list[Usage]:
    """Count one hit into each counter's current window and return where each stands, in order
    (on Redis all of them in one round trip). Raises the cache's error when it cannot be reached.
    Counts whatever RATELIMIT_ENABLE says: that setting switches off the middleware's limits only."""
    if not counters:
        return []
    now = _now()
    ends = [_window_end(c, now) for c in counters]
    cache = caches[settings.RATELIMIT_USE_CACHE]
    counts = (_count_on_redis if _is_redis(cache) else _count_in_cache)(cache, counters, ends)
    return [Usage(c, n, end) for c, n, end in zip(counters, counts, ends, strict=True)]


def count_hit(group: str, value: str, *, limit: int, period: int) -> Usage:
    """Count one hit on the named limit `group` for `value` (at most `limit` hits per `period`
    seconds) and return where it stands: count, remaining, exceeded, reset time."""
    return count_hits([Counter(group, value, limit, period)])[0]


def last_to_reset(usages: Sequence[Usage]) -> Usage | None:
    """Of the exceeded limits, the one that resets last (every one must have reset before a retry
    can pass; on a tie the smaller limit); None when none is exceeded."""
    exceeded = [u for u in usages if u.exceeded]
    return max(exceeded, key=lambda u: (u.reset_at, -u.counter.limit)) if exceeded else None


# --- the site's limits, per request --------------------------------------------------------------


def counters_for(request) -> list[Counter]:
    """The limits that apply to this request (none for health, ops, admin and pages)."""
    path = request.path_info
    on_api = path.startswith("/api/")
    sensitive = path.startswith(settings.RATELIMIT_SENSITIVE_PREFIXES)
    if not on_api and not sensitive:
        return []
    ip = client_ip(request)
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


def _clear(*, setting, **kwargs):
    if setting == "RATELIMIT_KEY_TIER_FUNCTION":
        _key_tier_function.cache_clear()


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
            counters = counters_for(request)
            usages = count_hits(counters) if settings.RATELIMIT_ENABLE else []
        except _STORE_DOWN:
            # Without its counters no limit can be kept: say so rather than serve unlimited.
            return store_down_response()
        if not usages:
            return self.get_response(request)
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
        response = self.get_response(request)
        _headers(response, min(usages, key=lambda u: (u.remaining, u.counter.limit)))
        return response
