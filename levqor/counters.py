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

import contextlib
import hashlib
import logging
import zlib
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import NoScriptError

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


# (cache alias, counter, window end) -> the counter's key as the cache makes it: the same few
# buckets are counted all minute long, and a SHA-256 and the cache's key function per counter and
# request were a good part of the rate limit's own cost.
_made_keys: dict = {}
_MADE_KEYS_MAX = 10_000


def _made_key(cache, counter: Counter, window_end: int) -> str:
    memo = (settings.RATELIMIT_CACHE_PREFIX, cache.key_prefix, cache.version, counter, window_end)
    key = _made_keys.get(memo)
    if key is None:
        if len(_made_keys) >= _MADE_KEYS_MAX:
            _made_keys.clear()  # windows move on: start over rather than grow
        key = _made_keys[memo] = cache.make_key(_cache_key(counter, window_end))
    return key


def _plain_key(counter: Counter, window_end: int) -> str:
    """_cache_key, remembered per window (for caches that make their own keys)."""
    memo = (settings.RATELIMIT_CACHE_PREFIX, counter, window_end)
    key = _made_keys.get(memo)
    if key is None:
        if len(_made_keys) >= _MADE_KEYS_MAX:
            _made_keys.clear()
        key = _made_keys[memo] = _cache_key(counter, window_end)
    return key


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


def _riders_done(riders, replies) -> None:
    """Tell each rider whether its commands went through, with its own replies (None: none came)."""
    for done, start, end in riders:
        own = None if replies is None else replies[start:end]
        ok = own is not None and not any(isinstance(reply, Exception) for reply in own)
        try:
            done(ok, own) if getattr(done, "wants_replies", False) else done(ok)
        except Exception:  # a rider never costs the counters their answer
            logger.warning("a pipeline rider's callback failed", exc_info=True)


# --- a request's round trip: its counters, a few reads and one hard limit ---------------------------


@dataclass(frozen=True)
class HardLimit:
    """One hit against a hard limit (a monthly quota), sent in the same round trip as the counters.
    It is counted only when none of the counters is over its limit (a refused request is not
    counted), when `guard_key` still holds `guard_value` (e.g. the API keys' generation the caller's
    idea of the owner came from) and when its counter exists (a missing one must first be seeded
    from its durable copy, by the caller). A hit over `limit` is taken back at once, atomically."""

    key: str  # cache key of the count (the cache's own prefix is added)
    limit: int | None  # None: unlimited
    guard_key: str
    guard_value: int


# What became of a HardLimit's hit (Trip.hard_outcome).
HARD_COUNTED = "counted"  # counted: Trip.hard_count is the count, this hit included
HARD_OVER = "over"  # over the limit: not counted (taken back); Trip.hard_count is what it would have been
HARD_SKIPPED = "skipped"  # not tried: a counter was over its limit, or the guard changed
HARD_MISSING = "missing"  # not tried: the count is not in the cache (seed it first)


@dataclass
class Trip:
    """What one round trip counted and read (count_request)."""

    usages: list[Usage]
    reads: dict[str, int | None]  # each read key's integer value (None: absent or not an integer)
    hard: HardLimit | None = None
    hard_outcome: str | None = None
    hard_count: int | None = None
    consumed: bool = False  # the hard hit's count was used by whoever it was counted for (trip_take_back)
    added: dict[str, bool] | None = None  # each `adds` key: whether this trip set it (None: not tried)
    added_used: set[str] | None = None  # the added keys whose owner used them (trip_add_taken)


# One script for the whole trip, so the hard hit can depend on the counters and the guard. KEYS: the
# n counters' keys, the reads' keys, then (with a hard hit) its guard key and its key. ARGV: n, the
# number of reads, each counter's expiry and limit, then (with a hard hit) its limit (-1: none) and
# the guard's expected value. Returns the n counts, the reads ('' when absent), then the hard hit's
# outcome and count.
# Between the reads and the hard hit: `na` adds (SET key 1 EX ttl NX, as the cache's add), KEYS
# their keys, ARGV na (after the counters) then their expiries; each answers 1 (set), 0 (it was
# there) or -1 (not tried: a counter refused the request).
_TRIP_LUA = """
local n, nr = tonumber(ARGV[1]), tonumber(ARGV[2])
local out, over = {}, false
for i = 1, n do
  local c = redis.call('INCR', KEYS[i])
  if c == 1 then redis.call('EXPIRE', KEYS[i], ARGV[1 + 2 * i]) end  -- a new window's first hit
  out[i] = c
  if c > tonumber(ARGV[2 + 2 * i]) then over = true end
end
for j = 1, nr do
  out[n + j] = redis.call('GET', KEYS[n + j]) or ''
end
local na = tonumber(ARGV[3 + 2 * n])
for j = 1, na do  -- SET NX, only for a request no counter refused
  local k = KEYS[n + nr + j]
  if over then out[n + nr + j] = -1
  elseif redis.call('SET', k, '1', 'EX', ARGV[3 + 2 * n + j], 'NX') then out[n + nr + j] = 1
  else out[n + nr + j] = 0 end
end
nr = nr + na
if #KEYS > n + nr then
  local guard, hard = KEYS[n + nr + 1], KEYS[n + nr + 2]
  local limit, expected = tonumber(ARGV[4 + 2 * n + na]), ARGV[5 + 2 * n + na]
  if over or redis.call('GET', guard) ~= expected then
    out[n + nr + 1], out[n + nr + 2] = 'skipped', 0
  elseif redis.call('EXISTS', hard) == 0 then
    out[n + nr + 1], out[n + nr + 2] = 'missing', 0
  else
    local calls = redis.call('INCR', hard)
    if limit >= 0 and calls > limit then
      redis.call('DECR', hard)
      out[n + nr + 1] = 'over'
    else
      out[n + nr + 1] = 'counted'
    end
    out[n + nr + 2] = calls
  end
end
return out
"""
_TRIP_SHA = hashlib.sha1(_TRIP_LUA.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)


def _int_or_none(value) -> int | None:
    if value is None or value == b"" or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _trip_on_redis(cache, counters: Sequence[Counter], ends: list[int], reads: Sequence[str],
                   hard: HardLimit | None, adds: Sequence[tuple[str, int]] = ()) -> tuple:
    """The whole trip as one script call in one pipelined round trip, riders' commands after it."""
    keys = [_made_key(cache, c, end) for c, end in zip(counters, ends, strict=True)]
    keys += [cache.make_key(name) for name in reads]
    keys += [cache.make_key(name) for name, _ in adds]
    args: list = [len(counters), len(reads)]
    for counter in counters:
        args += [counter.period + EXPIRY_MARGIN_SECONDS, counter.limit]
    args.append(len(adds))
    args += [int(ttl) for _, ttl in adds]
    if hard is not None:
        keys += [cache.make_key(hard.guard_key), cache.make_key(hard.key)]
        args += [-1 if hard.limit is None else hard.limit, hard.guard_value]
    connection = get_redis_connection(settings.RATELIMIT_USE_CACHE, write=True)
    pipe = connection.pipeline(transaction=False)
    pipe.evalsha(_TRIP_SHA, len(keys), *keys, *args)
    riders = _riders_join(pipe) if _pipeline_riders else []
    try:
        replies = pipe.execute(raise_on_error=False)
    except BaseException:
        _riders_done(riders, None)
        raise
    _riders_done(riders, replies)
    reply = replies[0]
    if isinstance(reply, NoScriptError):  # Redis restarted (or its scripts were flushed): send the script itself
        reply = connection.eval(_TRIP_LUA, len(keys), *keys, *args)
    elif isinstance(reply, Exception):
        raise reply
    n, nr, na = len(counters), len(reads), len(adds)
    added = [int(x) for x in reply[n + nr:n + nr + na]]
    outcome = count = None
    if hard is not None:
        raw = reply[n + nr + na]
        outcome, count = (raw.decode() if isinstance(raw, bytes) else raw), int(reply[n + nr + na + 1])
    return [int(x) for x in reply[:n]], list(reply[n:n + nr]), outcome, count, added


def _count_on_redis(cache, counters: Sequence[Counter], ends: list[int]) -> list[int]:
    """The counters alone, in one round trip (the trip's script, with nothing else)."""
    return _trip_on_redis(cache, counters, ends, (), None)[0]


def _count_in_cache(cache, counters: Sequence[Counter], ends: list[int]) -> list[int]:
    """Any other cache: incr the window's counter, or add it at 1 for a new window (one step per
    counter all minute long; two at a window's first hit)."""
    counts = []
    for counter, end in zip(counters, ends, strict=True):
        key = _plain_key(counter, end)
        try:
            counts.append(cache.incr(key))
            continue
        except ValueError:  # a new window (or one that expired just now)
            pass
        if cache.add(key, 1, counter.period + EXPIRY_MARGIN_SECONDS):
            counts.append(1)
        else:  # another thread added it first
            counts.append(cache.incr(key))
    return counts


def _trip_in_cache(cache, counters: Sequence[Counter], ends: list[int], reads: Sequence[str],
                   hard: HardLimit | None, adds: Sequence[tuple[str, int]] = ()) -> tuple:
    """The same trip, one step at a time, on a cache in this process (the local-memory cache of the
    embedded mode, one web process): nothing else counts in between that could see a half."""
    counts = _count_in_cache(cache, counters, ends)
    values = [cache.get(name) for name in reads]
    over = any(n > c.limit for n, c in zip(counts, counters, strict=True))
    added = [-1 if over else int(cache.add(name, 1, ttl)) for name, ttl in adds]
    if hard is None:
        return counts, values, None, None, added
    if over or cache.get(hard.guard_key) != hard.guard_value:
        return counts, values, HARD_SKIPPED, 0, added
    try:
        calls = cache.incr(hard.key)
    except ValueError:
        return counts, values, HARD_MISSING, 0, added
    if hard.limit is not None and calls > hard.limit:
        with contextlib.suppress(ValueError):
            cache.decr(hard.key)
        return counts, values, HARD_OVER, calls, added
    return counts, values, HARD_COUNTED, calls, added


def count_request(counters: Sequence[Counter], *, reads: Sequence[str] = (), hard: HardLimit | None = None,
                  adds: Sequence[tuple[str, int]] = ()) -> Trip:
    """Everything a request counts and reads in the shared cache, in one round trip on Redis (one
    script): a hit into each counter's current window (as count_hits), the integer values of `reads`,
    `adds` ((key, seconds): the cache's add of 1, done only when no counter refused the request;
    Trip.added says which were set, for trip_add_taken) and the hard limit's hit (see HardLimit),
    plus the pipeline riders' commands. Raises the cache's error when it cannot be reached."""
    now = _now()
    ends = [_window_end(c, now) for c in counters]
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if not counters and not reads and hard is None and not adds:
        return Trip([], {})
    counts, values, outcome, count, added = (_trip_on_redis if _is_redis(cache) else _trip_in_cache)(
        cache, counters, ends, reads, hard, adds)
    return Trip([Usage(c, n, end) for c, n, end in zip(counters, counts, ends, strict=True)],
                {name: _int_or_none(v) for name, v in zip(reads, values, strict=True)}, hard, outcome, count,
                added={name: a == 1 for (name, _), a in zip(adds, added, strict=True) if a >= 0} if adds else None)


def trip_add_taken(trip: Trip | None, key: str) -> bool | None:
    """Whether the request's trip set `key` (the cache's add, done for the caller): True (set: the
    caller does what the add guards), False (it was there), None (not in the trip: add it yourself).
    Each key is taken once; a key set and never taken is removed at the end (trip_take_back)."""
    if trip is None or not trip.added or key not in trip.added:
        return None
    if trip.added_used is None:
        trip.added_used = set()
    if key in trip.added_used:
        return None
    trip.added_used.add(key)
    return trip.added[key]


def trip_take_back(trip: Trip | None) -> None:
    """The hard hit was counted for a call that, in the end, was not one to count (answered before
    its key was checked, or its key turned out unusable): take it back, once."""
    if trip is None:
        return
    if trip.added:
        # A once-a-minute marker set for code that never ran (a 404, a 413): remove it, so that
        # the minute's write is still done by the next request that gets there.
        left = [name for name, was_set in trip.added.items() if was_set and name not in (trip.added_used or ())]
        if left:
            trip.added_used = (trip.added_used or set()) | set(left)
            with contextlib.suppress(*COUNTERS_DOWN):
                caches[settings.RATELIMIT_USE_CACHE].delete_many(left)
    if trip.consumed or trip.hard_outcome != HARD_COUNTED:
        return
    trip.consumed = True
    with contextlib.suppress(ValueError, *COUNTERS_DOWN):
        caches[settings.RATELIMIT_USE_CACHE].decr(trip.hard.key)


# The trip of the request being served (set by levqor.ratelimit's middleware around the rest of the
# request), for the code below it that would otherwise ask the cache again (key authentication).
_current_trip: ContextVar[Trip | None] = ContextVar("levqor_request_trip", default=None)


def request_trip() -> Trip | None:
    return _current_trip.get()


def request_trip_set(trip: Trip | None):
    return _current_trip.set(trip)


def request_trip_reset(token) -> None:
    _current_trip.reset(token)


def count_hits(counters: Sequence[Counter]) -> list[Usage]:
    """Count one hit into each counter's current window and return where each stands, in order
    (on Redis all of them in one round trip). Raises the cache's error when it cannot be reached.
    Counts whatever RATELIMIT_ENABLE says: that setting switches off the middleware's limits only."""
    if not counters:
        return []
    return count_request(counters).usages


def last_to_reset(usages: Sequence[Usage]) -> Usage | None:
    """Of the exceeded limits, the one that resets last (every one must have reset before a retry
    can pass; on a tie the smaller limit); None when none is exceeded."""
    exceeded = [u for u in usages if u.exceeded]
    return max(exceeded, key=lambda u: (u.reset_at, -u.counter.limit)) if exceeded else None
