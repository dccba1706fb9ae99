"""Live metrics, recorded in each process without a database write per request (issue 9, section 3).

Recording: metric_observe(series, labels, ms, error=) adds a timing to this process's current
minute (count, errors, sum, and a levqor.histogram bucket count); metric_gauge() keeps a reading.
It costs a few microseconds: a dict lookup, a logarithm and some additions under a lock.

Sending: once a minute is over, this process's figures for it go to the shared store, where the
rollup (intelligence, every minute) adds every process's share into MetricMinute rows:
- on Redis (REDIS_URL) into one hash per minute, by one EVAL (atomic, adding). It rides in the
  rate limiter's pipelined round trip (levqor.counters.pipeline_rider_register), so the first
  rate-limited request after a minute ends carries it at no extra round trip;
- in the embedded mode (local-memory cache, so the worker cannot read a web process's memory)
  to the database, through the sink intelligence registers (metrics_sink_register): one INSERT
  per process and minute.
What no request carried (a worker, pages that are not rate limited, an idle process) is sent by a
daemon thread per process that looks every METRICS_FLUSH_SECONDS; what is left when a process
exits (gunicorn recycling, django-q2 recycling a worker) is sent at exit, the minute in progress
included. A failed send is kept and tried again (at most MAX_HELD_MINUTES are kept).

Reading the Redis store is here too (its format is this module's): the rollup claims finished
minutes (metrics_claim_finished: atomically renamed out of reach of new sends), reads them and
releases them once their figures are committed (see intelligence.services.metrics).

Time is Django's clock (timezone.now), so tests move minutes with their clock fixture.
"""

import atexit
import hashlib
import json
import logging
import math
import multiprocessing.util
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone

from levqor.histogram import bucket_of

logger = logging.getLogger("levqor.metrics")

# Series that other parts read (intelligence: anomalies, SLOs, auto-tune, the operations page).
HTTP_REQUEST = "http.request"  # labels route, method, status_class; errors = 5xx
JOB_RUN = "job.run"  # label workflow; an attempt's run time; errors = failed attempts
JOB_WAIT = "job.wait"  # label workflow; from due (next_attempt_at) to start
JOB_OUTCOME = "job.outcome"  # labels workflow, outcome; run time per outcome of an attempt
QUEUE_DEPTH = "queue.depth"  # gauge (value): due, queued jobs, read by the rollup each minute

# Kept when sends fail; older minutes are dropped (and logged) past this many.
MAX_HELD_MINUTES = 60
# A minute's hash in Redis lives this long without a rollup (a claim keeps it: RENAME keeps the TTL).
REDIS_TTL_SECONDS = 2 * 86400
LABELS_KEY_MAX = 255  # MetricMinute.labels_key
_SEP = "\x1f"  # between series, labels key and field kind in a Redis hash field


@dataclass(frozen=True)
class MetricGroup:
    """One process's (or the store's) figures for one minute of one series and label set."""

    minute: int  # epoch seconds of the minute's start (UTC)
    series: str
    labels_key: str
    labels: dict
    count: int
    errors: int
    sum_ms: float
    histogram: dict  # {bucket index: count}, levqor.histogram buckets
    value: float | None  # a gauge's last reading


def _now() -> float:
    return timezone.now().timestamp()


def labels_key_of(labels: Mapping) -> str:
    """The labels as sorted k=v pairs joined by commas: one MetricMinute row per minute, series and key."""
    key = ",".join(f"{name}={labels[name]}" for name in sorted(labels))
    if len(key) > LABELS_KEY_MAX:  # still one key per label set: a digest of the whole
        key = key[:LABELS_KEY_MAX - 17] + "#" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return key


# --- this process's accumulation --------------------------------------------------------------------

_lock = threading.Lock()
# minute -> {(series, labels_key): [count, errors, sum_ms, {bucket: count}, gauge value or None]}
_minutes: dict[int, dict[tuple[str, str], list]] = {}
_labels: dict[tuple[str, str], dict] = {}  # (series, labels_key) -> the labels
_idents: dict[tuple, tuple[str, str]] = {}  # (series, labels items in call order) -> (series, labels_key)
_IDENTS_MAX = 10_000
# The end of the earliest minute held (epoch s): from then on there is finished data to send.
_held_until = math.inf
_flusher_started = False


def _ident(series: str, labels: Mapping) -> tuple[str, str]:
    memo = (series, *labels.items())
    ident = _idents.get(memo)
    if ident is None:
        if len(_idents) >= _IDENTS_MAX:  # a label of unbounded values: forget, do not grow forever
            _idents.clear()
        ident = _idents[memo] = (series, labels_key_of(labels))
        _labels[ident] = {str(k): str(v) for k, v in labels.items()}
    return ident


def _slot(minute: int, ident: tuple[str, str]) -> list:
    """The accumulator of this minute and series (the lock is held)."""
    global _held_until
    groups = _minutes.get(minute)
    if groups is None:
        groups = _minutes[minute] = {}
        _held_until = min(_held_until, minute + 60)
    slot = groups.get(ident)
    if slot is None:
        slot = groups[ident] = [0, 0, 0.0, {}, None]
    return slot


def metric_observe(series: str, labels: Mapping, ms: float, *, error: bool = False) -> None:
    """Count one timing (a request, a job's run or wait) of `ms` milliseconds in this minute of this
    series and label set; `error` counts it as an error too. Labels must have few values."""
    if not settings.METRICS_ENABLED:
        return
    ident = _ident(series, labels)
    bucket = bucket_of(ms)
    minute = int(_now() // 60) * 60
    with _lock:
        slot = _slot(minute, ident)
        slot[0] += 1
        if error:
            slot[1] += 1
        slot[2] += ms
        histogram = slot[3]
        histogram[bucket] = histogram.get(bucket, 0) + 1
    if not _flusher_started:
        _flusher_ensure()


def metric_gauge(series: str, labels: Mapping, value: float) -> None:
    """Keep a reading (a level, not a timing) for this minute; the last reading of a minute wins,
    across processes too."""
    if not settings.METRICS_ENABLED:
        return
    ident = _ident(series, labels)
    minute = int(_now() // 60) * 60
    with _lock:
        _slot(minute, ident)[4] = float(value)
    if not _flusher_started:
        _flusher_ensure()


def _take(*, everything: bool) -> list[MetricGroup]:
    """Take this process's finished minutes (everything: the minute in progress too) out of memory."""
    global _held_until
    now = _now()
    if not everything and now < _held_until:
        return []
    current = int(now // 60) * 60
    groups = []
    with _lock:
        for minute in [m for m in _minutes if everything or m < current]:
            for ident, (count, errors, sum_ms, histogram, value) in _minutes.pop(minute).items():
                groups.append(MetricGroup(minute, ident[0], ident[1], _labels[ident], count, errors, sum_ms,
                                          histogram, value))
        _held_until = min(_minutes) + 60 if _minutes else math.inf
    return groups


def _put_back(groups: Iterable[MetricGroup]) -> None:
    """A send failed: keep its figures (added to whatever came since) to try again."""
    with _lock:
        for group in groups:
            ident = (group.series, group.labels_key)
            _labels.setdefault(ident, group.labels)
            slot = _slot(group.minute, ident)
            slot[0] += group.count
            slot[1] += group.errors
            slot[2] += group.sum_ms
            for bucket, n in group.histogram.items():
                slot[3][bucket] = slot[3].get(bucket, 0) + n
            if group.value is not None and slot[4] is None:
                slot[4] = group.value
        _drop_oldest()


def _drop_oldest() -> None:
    global _held_until
    if len(_minutes) > MAX_HELD_MINUTES:
        dropped = sorted(_minutes)[:len(_minutes) - MAX_HELD_MINUTES]
        for minute in dropped:
            del _minutes[minute]
        _held_until = min(_minutes) + 60
        logger.warning("metrics: the store was out of reach; dropped %d minute(s) of this process's figures",
                       len(dropped))


def metrics_held() -> list[MetricGroup]:
    """A copy of what this process holds, unsent (tests, diagnostics)."""
    with _lock:
        return [MetricGroup(minute, ident[0], ident[1], _labels[ident], s[0], s[1], s[2], dict(s[3]), s[4])
                for minute, groups in sorted(_minutes.items()) for ident, s in groups.items()]


def metrics_discard() -> None:
    """Forget what this process holds, unsent (tests; a forked child must not send its parent's figures)."""
    global _held_until
    with _lock:
        _minutes.clear()
        _held_until = math.inf


# --- sending ----------------------------------------------------------------------------------------

_sink: Callable[[list[MetricGroup]], None] | None = None


def metrics_sink_register(sink: Callable[[list[MetricGroup]], None]) -> None:
    """Where finished minutes go when there is no Redis (the embedded mode): intelligence stores them
    in the database (levqor knows no app, so the app registers its writer from AppConfig.ready)."""
    global _sink
    _sink = sink


def metrics_on_redis() -> bool:
    return type(caches["default"]).__module__.startswith("django_redis")


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default", write=True)


def _key(name: str) -> str:
    return caches["default"].make_key(name)


# Adds one minute's figures into its hash, then lists the minute as pending; atomic, so a claim sees
# all of a send or none of it. ARGV: minute, ttl, then (op, field, value) triples: i = HINCRBY,
# f = HINCRBYFLOAT, s = HSET.
_SEND_LUA = """
for i = 3, #ARGV, 3 do
  local op, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'i' then redis.call('HINCRBY', KEYS[1], field, value)
  elseif op == 'f' then redis.call('HINCRBYFLOAT', KEYS[1], field, value)
  else redis.call('HSET', KEYS[1], field, value) end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[1])
return 1
"""


def _redis_commands(pipe, groups: list[MetricGroup]) -> None:
    """Append the commands that add these groups to the store to a Redis pipeline: one EVAL per minute."""
    by_minute: dict[int, list] = {}
    for g in groups:
        args = by_minute.setdefault(g.minute, [])
        field = f"{g.series}{_SEP}{g.labels_key}{_SEP}"
        args += ["i", field + "c", g.count, "s", field + "l", json.dumps(g.labels, sort_keys=True)]
        if g.errors:
            args += ["i", field + "e", g.errors]
        if g.sum_ms:
            args += ["f", field + "s", repr(float(g.sum_ms))]
        for bucket, n in g.histogram.items():
            args += ["i", f"{field}h{bucket}", n]
        if g.value is not None:
            args += ["s", field + "g", repr(float(g.value))]
    index = _key("metrics:minutes")
    for minute, args in by_minute.items():
        pipe.eval(_SEND_LUA, 2, _key(f"metrics:m:{minute}"), index, minute, REDIS_TTL_SECONDS, *args)


def _send(groups: list[MetricGroup]) -> None:
    if metrics_on_redis():
        pipe = _redis().pipeline(transaction=False)
        _redis_commands(pipe, groups)
        pipe.execute()
    elif _sink is not None:
        _sink(groups)
    else:
        logger.warning("metrics: no store to send to (no Redis, and no sink registered); %d group(s) dropped",
                       len(groups))


def metrics_flush(*, everything: bool = False) -> int:
    """Send this process's finished minutes (everything: the minute in progress too) to the shared
    store now; returns how many groups were sent. On failure they are kept for the next try."""
    groups = _take(everything=everything)
    if not groups:
        return 0
    try:
        _send(groups)
    except Exception:
        _put_back(groups)
        logger.warning("metrics: sending %d group(s) failed; kept for the next try", len(groups), exc_info=True)
        return 0
    return len(groups)


def pipeline_rider(pipe) -> Callable[[bool], None] | None:
    """Joins the rate limiter's Redis pipeline (levqor.counters): when a minute of figures is over,
    its send goes in the same round trip. Returns the callback told whether that worked."""
    if _held_until > _now():  # nothing finished (the usual case: one float comparison)
        return None
    groups = _take(everything=False)
    if not groups:
        return None
    _redis_commands(pipe, groups)

    def done(ok: bool) -> None:
        if not ok:
            _put_back(groups)

    return done


# --- the flusher thread and the send at exit ----------------------------------------------------------

_stop = threading.Event()


def _flusher_ensure() -> None:
    """On the first figure of a process: start its flusher thread and its send at exit."""
    global _flusher_started
    with _lock:
        if _flusher_started:
            return
        _flusher_started = True
    if not settings.METRICS_BACKGROUND_FLUSH:
        return
    threading.Thread(target=_flusher_loop, name="levqor-metrics-flush", daemon=True).start()
    atexit.register(_flush_at_exit)
    # multiprocessing children (django-q2 workers) leave through os._exit, past atexit: their
    # finalizers run, though.
    multiprocessing.util.Finalize(None, _flush_at_exit, exitpriority=100)


def _flusher_loop(interval: float | None = None) -> None:
    from django.db import connections

    while not _stop.wait(interval or settings.METRICS_FLUSH_SECONDS):
        if _held_until > _now():
            continue
        try:
            metrics_flush()
        finally:
            connections.close_all()  # this thread's own connections (the embedded sink's)


def flusher_start(*, interval: float) -> threading.Thread:
    """Start a flusher thread by hand (tests of the thread itself); stop it with flusher_stop()."""
    _stop.clear()
    thread = threading.Thread(target=_flusher_loop, args=(interval,), name="levqor-metrics-flush", daemon=True)
    thread.start()
    return thread


def flusher_stop(thread: threading.Thread) -> None:
    _stop.set()
    thread.join(timeout=10)


def _flush_at_exit() -> None:
    try:
        metrics_flush(everything=True)
    except Exception:  # never let a metric stop a process from exiting
        logger.warning("metrics: the send at exit failed", exc_info=True)


def _after_fork_in_child() -> None:
    """A forked child (gunicorn and django-q2 workers) starts empty, with its own lock and thread."""
    global _lock, _flusher_started, _held_until, _stop
    _lock = threading.Lock()
    _stop = threading.Event()
    _minutes.clear()
    _held_until = math.inf
    _flusher_started = False


os.register_at_fork(after_in_child=_after_fork_in_child)


# --- reading the Redis store (the rollup) ------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A finished minute's hash, moved out of reach of new sends for the rollup to add up."""

    key: str  # its Redis key
    batch: str  # "<minute>:<claim id>": unique, what the rollup records as applied
    minute: int


# Moves every listed minute before ARGV[1] to a claim key (new sends for it start a new hash) and
# records the claim with its time, so a claim left by a crashed rollup is found again.
_CLAIM_LUA = """
local taken = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do
  redis.call('ZREM', KEYS[1], m)
  local source = ARGV[2] .. m
  if redis.call('EXISTS', source) == 1 then
    local claim = ARGV[3] .. m .. ':' .. ARGV[4]
    redis.call('RENAME', source, claim)
    redis.call('ZADD', KEYS[2], ARGV[5], claim)
    table.insert(taken, claim)
  end
end
return taken
"""


def _claim_of(key) -> Claim:
    key = key.decode() if isinstance(key, bytes) else key
    batch = key[len(_key("metrics:claim:")):]
    return Claim(key=key, batch=batch, minute=int(batch.split(":", 1)[0]))


def metrics_claim_finished(*, before: int) -> list[Claim]:
    """Claim every minute in the Redis store that starts before `before` (epoch s)."""
    keys = _redis().eval(_CLAIM_LUA, 2, _key("metrics:minutes"), _key("metrics:claims"), before,
                         _key("metrics:m:"), _key("metrics:claim:"), uuid.uuid4().hex, int(_now()))
    return [_claim_of(key) for key in keys]


def metrics_claims_left(*, older_than_seconds: float) -> list[Claim]:
    """Claims made longer ago than this and not released: their rollup did not finish."""
    keys = _redis().zrangebyscore(_key("metrics:claims"), "-inf", _now() - older_than_seconds)
    return [_claim_of(key) for key in keys]


def metrics_claim_read(claim: Claim) -> list[MetricGroup]:
    """The figures of a claimed minute (all processes' sends added up)."""
    fields: dict[tuple[str, str], dict] = {}
    for raw_field, raw_value in _redis().hgetall(claim.key).items():
        series, labels_key, kind = raw_field.decode().split(_SEP)
        fields.setdefault((series, labels_key), {})[kind] = raw_value.decode()
    groups = []
    for (series, labels_key), f in fields.items():
        histogram = {int(kind[1:]): int(v) for kind, v in f.items() if kind.startswith("h")}
        groups.append(MetricGroup(
            claim.minute, series, labels_key, json.loads(f.get("l", "{}")), int(f.get("c", 0)), int(f.get("e", 0)),
            float(f.get("s", 0)), histogram, float(f["g"]) if "g" in f else None))
    return groups


def metrics_claim_release(claim: Claim) -> None:
    """The claim's figures are stored for good: forget it."""
    pipe = _redis().pipeline(transaction=True)
    pipe.delete(claim.key)
    pipe.zrem(_key("metrics:claims"), claim.key)
    pipe.execute()
