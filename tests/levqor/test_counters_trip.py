"""levqor.counters.count_request: a request's counters, reads and one hard limit (a quota) in one
round trip (one script on Redis, the same steps in order on the local-memory cache); and the
request log's writer thread (levqor.request_log), which writes lines off the request path."""

import io
import json
import logging
import time

import pytest
from django.core.cache import caches

from levqor import counters, request_log
from levqor.counters import HARD_COUNTED, HARD_MISSING, HARD_OVER, HARD_SKIPPED, Counter, HardLimit, count_request

GUARD = "test-trip-guard"
QUOTA = "test-trip-quota"


@pytest.fixture
def cache():
    cache = caches["default"]
    cache.set(GUARD, 7, None)
    cache.set(QUOTA, 0, None)
    return cache


def _hard(limit=3, guard=7):
    return HardLimit(QUOTA, limit, GUARD, guard)


def test_counters_reads_and_the_hard_hit_in_one_trip(cache):
    counter = Counter("test-trip", "a", 10, 60)
    trip = count_request([counter], reads=[GUARD, "test-trip-absent"], hard=_hard())
    assert [u.count for u in trip.usages] == [1]
    assert trip.reads == {GUARD: 7, "test-trip-absent": None}
    assert (trip.hard_outcome, trip.hard_count) == (HARD_COUNTED, 1)
    assert cache.get(QUOTA) == 1


def test_the_hard_hit_at_its_limit_passes_and_past_it_is_taken_back(cache):
    outcomes = [(t.hard_outcome, t.hard_count) for t in (count_request([], hard=_hard(limit=2)) for _ in range(4))]
    assert outcomes == [(HARD_COUNTED, 1), (HARD_COUNTED, 2), (HARD_OVER, 3), (HARD_OVER, 3)]
    assert cache.get(QUOTA) == 2


def test_no_limit_means_none(cache):
    assert count_request([], hard=_hard(limit=None)).hard_outcome == HARD_COUNTED


def test_the_hard_hit_is_skipped_when_a_counter_refuses_or_the_guard_changed(cache):
    tight = Counter("test-trip-tight", "b", 1, 60)
    assert count_request([tight], hard=_hard()).hard_outcome == HARD_COUNTED
    refused = count_request([tight], hard=_hard())
    assert refused.usages[0].exceeded and refused.hard_outcome == HARD_SKIPPED
    assert count_request([], hard=_hard(guard=8)).hard_outcome == HARD_SKIPPED
    cache.delete(GUARD)
    assert count_request([], hard=_hard()).hard_outcome == HARD_SKIPPED
    assert cache.get(QUOTA) == 1


def test_a_missing_count_is_left_to_the_caller_to_seed(cache):
    cache.delete(QUOTA)
    trip = count_request([], hard=_hard())
    assert trip.hard_outcome == HARD_MISSING
    assert cache.get(QUOTA) is None  # not created without its expiry and durable seed


def test_a_counted_hit_not_used_is_taken_back_once(cache):
    trip = count_request([], hard=_hard())
    assert cache.get(QUOTA) == 1
    counters.trip_take_back(trip)
    counters.trip_take_back(trip)
    assert cache.get(QUOTA) == 0
    used = count_request([], hard=_hard())
    used.consumed = True
    counters.trip_take_back(used)
    assert cache.get(QUOTA) == 1


@pytest.mark.redis
def test_on_redis_a_script_redis_does_not_know_is_sent_again(cache, monkeypatch):
    """As after a Redis restart (no SCRIPT FLUSH here: it would flush every other client's scripts)."""
    monkeypatch.setattr(counters, "_TRIP_SHA", "0" * 40)
    assert count_request([], hard=_hard()).hard_outcome == HARD_COUNTED
    assert count_request([], hard=_hard()).hard_count == 2


# --- the request log's writer --------------------------------------------------------------------------

@pytest.fixture
def console():
    handler = next(h for h in logging.root.handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    level = logging.getLogger("levqor.request").level
    logging.getLogger("levqor.request").setLevel(logging.INFO)
    try:
        yield stream
    finally:
        request_log.request_log_flush()
        handler.setStream(previous)
        logging.getLogger("levqor.request").setLevel(level)


def _lines(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines() if '"levqor.request"' in line]


def test_lines_are_written_by_the_writer_thread_in_order_with_the_requests_time(console):
    before = time.time()
    for n in range(3):
        request_log.request_log_line({"method": "GET", "path": f"/p{n}", "status": 200})
    assert _lines(console) == []  # not on the request path
    deadline = time.monotonic() + 10
    while len(_lines(console)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = _lines(console)
    assert [line["path"] for line in lines] == ["/p0", "/p1", "/p2"]
    assert before - 1 <= _epoch(lines[0]["ts"]) <= before + 1  # stamped when handed over


def test_flush_writes_everything_now_and_a_long_backlog_is_written_by_the_request(console, monkeypatch):
    monkeypatch.setattr(request_log, "WRITE_INTERVAL_SECONDS", 3600)
    monkeypatch.setattr(request_log, "PENDING_MAX", 2)
    request_log._pending.clear()
    request_log.request_log_line({"path": "/a", "password": "hunter2-secret"})
    request_log.request_log_line({"path": "/b"})
    request_log.request_log_line({"path": "/c"})  # over PENDING_MAX: written here, all three
    assert [line["path"] for line in _lines(console)] == ["/a", "/b", "/c"]
    assert "hunter2-secret" not in console.getvalue()  # the handler's redaction still applies
    request_log.request_log_line({"path": "/d"})
    request_log.request_log_flush()
    assert [line["path"] for line in _lines(console)] == ["/a", "/b", "/c", "/d"]


def _epoch(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp()
