"""Fixed-window hit counters in the shared cache (count_hits): the one rate-limit mechanism, used
by the site's limits (levqor.ratelimit's middleware) and by sign-in links (accounts.login). No
HTTP here: a service may count without importing the web layer.

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
import logging
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from django_redis import get_redis_connection

from levqor.store import STORE_DOWN

logger = logging.getLogger("levqor.counters")

# A window's counter outlives the window by this much, so a process whose clock runs a little
# behind still finds it.
EXPIRY_MARGIN_SECONDS = 5
# The counters' store cannot be reached (a socket error included): callers answer "unavailable".
COUNTERS_DOWN = (*STORE_DOWN, OSError)


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


# Riders: functions that may append their own commands to the counters' pipeline, so that what
# they send costs no round trip of its own (levqor.metrics sends a finished minute this way).
# rider(pipe) -> None (nothing appended) or done(ok), told after the round trip whether its
# commands went through.
_pipeline_riders: list[Callable] = []


def pipeline_rider_register(rider: Callable) -> None:
    """Let `rider` append commands to every counting round trip on Redis (see _pipeline_riders)."""
    if rider not in _pipeline_riders:
        _pipeline_riders.append(rider)


def _riders_join(pipe) -> list[tuple[Callable, int, int]]:
    """Each rider's callback and the slice of the replies that is its own."""
    joined = []
    for rider in _pipeline_riders:
        start = len(pipe)
        try:
            done = rider(pipe)
        except Exception:  # a rider never costs the counters their answer
            logger.warning("a pipeline rider failed", exc_info=True)
            del pipe.command_stack[start:]
            continue
        if done is not None:
            joined.append((done, start, len(pipe)))
    return joined


def _count_on_redis(cache, counters: Sequence[Counter], ends: list[int]) -> list[int]:
    """INCR every counter in one round trip; SET NX EX first gives a new window's counter its
    expiry. The keys are the cache's own (its KEY_PREFIX and version), so the cache API reads
    and clears them like any other entry. Riders' commands (if any) follow in the same trip."""
    pipe = get_redis_connection(settings.RATELIMIT_USE_CACHE, write=True).pipeline(transaction=False)
    for counter, end in zip(counters, ends, strict=True):
        key = cache.make_key(_cache_key(counter, end))
        pipe.set(key, 0, ex=counter.period + EXPIRY_MARGIN_SECONDS, nx=True)
        pipe.incr(key)
    riders = _riders_join(pipe) if _pipeline_riders else []
    try:
        replies = pipe.execute(raise_on_error=False)
    except BaseException:
        for done, _, _ in riders:
            done(False)
        raise
    for done, start, end in riders:
        done(not any(isinstance(reply, Exception) for reply in replies[start:end]))
    own = replies[:2 * len(counters)]
    for reply in own:
        if isinstance(reply, Exception):
            raise reply
    return [int(n) for n in own[1::2]]


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


def last_to_reset(usages: Sequence[Usage]) -> Usage | None:
    """Of the exceeded limits, the one that resets last (every one must have reset before a retry
    can pass; on a tie the smaller limit); None when none is exceeded."""
    exceeded = [u for u in usages if u.exceeded]
    return max(exceeded, key=lambda u: (u.reset_at, -u.counter.limit)) if exceeded else None
