"""levqor.metrics, the recording side of the live metrics: figures kept in the process per minute,
every request measured by the middleware (the intake fast path and early answers too), finished
minutes sent to the shared store (on Redis inside the rate limiter's round trip), kept when a send
fails, and a forked child starting empty."""

import os
import time

import pytest
import redis
from django.test import Client

from levqor import metrics
from levqor.histogram import bucket_of
from levqor.metrics import HTTP_REQUEST, metric_gauge, metric_observe
from tests.conftest import post_json
from tests.levqor import crash_urls
from tests.metrics_support import ON_REDIS, frozen_clock_fixture, held, redis_store_groups  # noqa: F401 (a fixture)

LABELS = {"route": "/api/v1/intake", "method": "POST", "status_class": "2xx"}
DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}


def test_timings_add_up_per_minute_and_label_set_whatever_the_labels_order(frozen_clock):
    for ms in (3.0, 5.0, 400.0):
        metric_observe(HTTP_REQUEST, LABELS, ms)
    metric_observe(HTTP_REQUEST, {"status_class": "2xx", "method": "POST", "route": "/api/v1/intake"}, 7.0, error=True)
    metric_observe(HTTP_REQUEST, {**LABELS, "status_class": "5xx"}, 9.0, error=True)
    groups = held(HTTP_REQUEST)
    intake = groups["method=POST,route=/api/v1/intake,status_class=2xx"]
    assert (intake.count, intake.errors, intake.sum_ms) == (4, 1, 415.0)
    assert intake.histogram == {bucket_of(3.0): 1, bucket_of(5.0): 1, bucket_of(400.0): 1, bucket_of(7.0): 1}
    assert intake.labels == LABELS and intake.minute == int(frozen_clock.minute.timestamp())
    assert groups["method=POST,route=/api/v1/intake,status_class=5xx"].count == 1


def test_a_gauge_keeps_the_minutes_last_reading(frozen_clock):
    metric_gauge("workers.busy", {}, 3)
    metric_gauge("workers.busy", {}, 1)
    assert held("workers.busy")[""].value == 1.0 and held("workers.busy")[""].count == 0


def test_observing_costs_microseconds():
    n = 20_000
    # This thread's CPU time: the suites run side by side over xdist workers on two cores, and the
    # wall clock would count the time other processes held the core.
    started = time.thread_time()
    for _ in range(n):
        metric_observe(HTTP_REQUEST, LABELS, 12.5)
    per_call_us = (time.thread_time() - started) / n * 1e6
    assert held(HTTP_REQUEST)["method=POST,route=/api/v1/intake,status_class=2xx"].count == n
    assert per_call_us < 30, f"{per_call_us:.1f} us per observation"


@pytest.mark.django_db(transaction=True)
def test_only_finished_minutes_are_sent_unless_everything_is_asked_for(frozen_clock):
    metric_observe(HTTP_REQUEST, LABELS, 10)
    assert metrics.metrics_flush() == 0  # the minute is not over
    frozen_clock.advance(60)
    metric_observe(HTTP_REQUEST, LABELS, 20)
    assert metrics.metrics_flush() == 1
    assert [g.sum_ms for g in metrics.metrics_held()] == [20]  # the minute in progress stays
    assert metrics.metrics_flush(everything=True) == 1
    assert metrics.metrics_held() == []


@pytest.mark.django_db
def test_every_request_is_measured_with_its_route_method_and_status_class(api, settings):
    settings.ROOT_URLCONF = crash_urls.__name__
    assert api.get("/api/v1/workflows").status_code == 200
    assert post_json(api, "/api/v1/intake", DEMO).status_code == 202  # the fast path: a plain Django view
    assert post_json(api, "/api/v1/intake", {"workflow": "nope"}).status_code == 400
    assert api.get("/no/such/page").status_code == 404
    assert api.generic("BREW", "/api/v1/workflows").status_code == 405
    assert Client().get("/static/levqor/nothing-here.css").status_code == 404
    browser = Client(raise_request_exception=False)
    assert browser.get(crash_urls.PLAIN_PATH).status_code == 500
    groups = held(HTTP_REQUEST)
    assert {key: (g.count, g.errors) for key, g in groups.items()} == {
        "method=GET,route=/api/v1/workflows,status_class=2xx": (1, 0),
        "method=POST,route=/api/v1/intake,status_class=2xx": (1, 0),
        "method=POST,route=/api/v1/intake,status_class=4xx": (1, 0),
        "method=GET,route=(unmatched),status_class=4xx": (1, 0),
        "method=OTHER,route=/api/v1/workflows,status_class=4xx": (1, 0),
        "method=GET,route=(static),status_class=4xx": (1, 0),
        "method=GET,route=/test-crash/plain,status_class=5xx": (1, 1),
    }
    assert all(g.sum_ms > 0 for g in groups.values())


@pytest.mark.django_db
def test_an_answer_given_before_routing_is_measured_under_its_route(settings):
    settings.RATELIMIT_WRITES_PER_IP = 1
    client = Client()
    assert client.post("/api/v1/jobs", data="{}", content_type="application/json").status_code == 401
    assert client.post("/api/v1/jobs", data="{}", content_type="application/json").status_code == 429
    assert {key: g.count for key, g in held(HTTP_REQUEST).items()} == {
        "method=POST,route=/api/v1/jobs,status_class=4xx": 2}


@pytest.mark.django_db
def test_off_nothing_is_measured(settings, api):
    settings.METRICS_ENABLED = False
    assert api.get("/api/v1/workflows").status_code == 200
    metric_observe(HTTP_REQUEST, LABELS, 1.0)
    metric_gauge("queue.depth", {}, 1)
    assert metrics.metrics_held() == []


def test_a_label_set_too_long_for_a_row_key_still_gets_a_key_of_its_own():
    long_a, long_b = {"route": "/x" * 200 + "a"}, {"route": "/x" * 200 + "b"}
    key_a, key_b = metrics.labels_key_of(long_a), metrics.labels_key_of(long_b)
    assert len(key_a) <= 255 and len(key_b) <= 255 and key_a != key_b


def test_a_forked_child_starts_empty_and_the_parent_keeps_its_figures():
    metric_observe(HTTP_REQUEST, LABELS, 1.0)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it holds, then leave at once
        try:
            metric_observe(HTTP_REQUEST, LABELS, 2.0)
            os.write(write, str([g.count for g in metrics.metrics_held()]).encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 100)
    os.waitpid(pid, 0)
    assert answer == b"[1]"  # its own observation only
    assert [g.count for g in metrics.metrics_held()] == [1]


# --- sending to Redis ---------------------------------------------------------------------------------

@pytest.fixture
def pipelines(monkeypatch):
    """The Redis pipelines executed (redis-py's own Pipeline.execute, watched): their commands."""
    executed = []
    original = redis.client.Pipeline.execute

    def execute(self, *args, **kwargs):
        executed.append([command[0][0] for command in self.command_stack])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    return executed


@pytest.mark.redis
@pytest.mark.django_db
def test_on_redis_a_finished_minute_rides_in_the_rate_limiters_round_trip(frozen_clock, pipelines):
    client = Client()
    for _ in range(3):
        assert client.get("/api/v1/workflows").status_code == 401
    assert all("EVAL" not in commands for commands in pipelines)  # nothing finished: nothing rides
    minute = frozen_clock.minute
    frozen_clock.advance(60)
    pipelines.clear()
    assert client.get("/api/v1/workflows").status_code == 401
    assert len(pipelines) == 1, "one round trip: the counters and the metrics together"
    # The counters' script (levqor.counters: the limits, the keys' generation, the quota), then the
    # minute; a runtime setting's read may ride after them (intelligence.services.runtime.pipeline_rider).
    assert pipelines[0][:2] == ["EVALSHA", "EVAL"]
    assert set(pipelines[0][2:]) <= {"GET"}
    [group] = redis_store_groups(before=frozen_clock.minute)
    assert (group.minute, group.series, group.count, group.labels) == (
        int(minute.timestamp()), HTTP_REQUEST, 3,
        {"route": "/api/v1/workflows", "method": "GET", "status_class": "4xx"})
    assert sum(group.histogram.values()) == 3
    assert [g.count for g in metrics.metrics_held()] == [1]  # the request of the new minute


@pytest.mark.redis
@pytest.mark.django_db
def test_on_redis_a_failed_send_is_kept_and_sent_with_the_next(frozen_clock, settings):
    metric_observe(HTTP_REQUEST, LABELS, 10.0)
    frozen_clock.advance(60)
    working = settings.CACHES
    settings.CACHES = {"default": {**working["default"], "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {**working["default"]["OPTIONS"], "SOCKET_CONNECT_TIMEOUT": 0.5}}}
    assert metrics.metrics_flush() == 0  # nothing listens there
    metric_observe(HTTP_REQUEST, LABELS, 30.0)
    settings.CACHES = working
    assert metrics.metrics_flush() == 1
    [group] = redis_store_groups(before=frozen_clock.minute)
    assert (group.count, group.sum_ms) == (1, 10.0)
    assert [(g.count, g.sum_ms) for g in metrics.metrics_held()] == [(1, 30.0)]


@pytest.mark.skipif(ON_REDIS, reason="the embedded mode's store: on Redis the tests above")
@pytest.mark.django_db
def test_embedded_a_failed_send_is_kept_and_sent_with_the_next(frozen_clock, monkeypatch):
    sent = []

    def failing(groups):
        raise OSError("disk full")

    monkeypatch.setattr(metrics, "_sink", failing)
    metric_observe(HTTP_REQUEST, LABELS, 10.0)
    frozen_clock.advance(60)
    assert metrics.metrics_flush() == 0
    monkeypatch.setattr(metrics, "_sink", sent.extend)
    frozen_clock.advance(60)
    metric_observe(HTTP_REQUEST, LABELS, 5.0)
    assert metrics.metrics_flush() == 1
    assert [(g.count, g.sum_ms) for g in sent] == [(1, 10.0)]
    assert [(g.count, g.sum_ms) for g in metrics.metrics_held()] == [(1, 5.0)]
