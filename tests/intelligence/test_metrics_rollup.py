"""The live metrics' rollup into MetricMinute: counts, errors and percentiles right; exactly once
(a re-run, two rollups at once, a claim left by a rollup that died); two real processes add up;
late figures join their row; requests write nothing to the database; jobs measured by a real
in-process run; the queue depth; the purge; the schedules."""

import json
import random
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule

from intelligence.models import MetricBatch, MetricHour, MetricMinute, MetricShard
from intelligence.services import metrics as rollup
from jobs.execution import job_run_due
from jobs.models import Job
from levqor import metrics
from levqor.metrics import HTTP_REQUEST, JOB_OUTCOME, JOB_RUN, JOB_WAIT, QUEUE_DEPTH, metric_observe
from tests.concurrency import run_together
from tests.conftest import post_json
from tests.jobs.support import job_submit, schedules_fire, tasks_drain, worker_env
from tests.metrics_support import ON_REDIS, exact_percentile, frozen_clock_fixture, held  # noqa: F401 (a fixture)

LABELS = {"route": "/api/v1/intake", "method": "POST", "status_class": "2xx"}
KEY = "method=POST,route=/api/v1/intake,status_class=2xx"
DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}


def _latencies(n: int, seed: int = 9) -> list[float]:
    """A skewed spread of request times, 0.3 ms to a few seconds, like real ones."""
    rng = random.Random(seed)
    return [round(rng.lognormvariate(3.0, 1.0), 3) for _ in range(n)]


def _assert_percentiles(row, values):
    for q, got in ((50, row.p50_ms), (95, row.p95_ms), (99, row.p99_ms)):
        exact = exact_percentile(values, q)
        assert exact <= got <= exact * 1.1 + 0.001, f"p{q}: {got} for exact {exact}"


@pytest.mark.django_db
def test_a_finished_minute_becomes_rows_with_counts_errors_and_percentiles_within_ten_percent(frozen_clock):
    values = _latencies(2000)
    for i, ms in enumerate(values):
        metric_observe(HTTP_REQUEST, LABELS, ms, error=i % 40 == 0)
    metric_observe(HTTP_REQUEST, {**LABELS, "status_class": "5xx"}, 80.0, error=True)
    minute = frozen_clock.minute
    assert rollup.metrics_rollup()["rows"] == 0  # the minute is not over: nothing is rolled up
    frozen_clock.advance(60)
    result = rollup.metrics_rollup()
    assert result["rows"] == 2
    row = MetricMinute.objects.get(series=HTTP_REQUEST, labels_key=KEY)
    assert (row.minute, row.labels, row.count, row.errors) == (minute, LABELS, 2000, 50)
    assert row.sum_ms == pytest.approx(sum(values))
    assert sum(row.histogram.values()) == 2000
    _assert_percentiles(row, values)
    five = MetricMinute.objects.get(series=HTTP_REQUEST, labels_key=KEY.replace("2xx", "5xx"))
    assert (five.count, five.errors, five.p50_ms) == (1, 1, pytest.approx(80.0, rel=0.1))
    assert not MetricShard.objects.exists()  # consumed

    # A re-run adds nothing; the next minute's figures make their own rows.
    assert rollup.metrics_rollup()["rows"] == 0
    metric_observe(HTTP_REQUEST, LABELS, 5.0)
    frozen_clock.advance(60)
    rollup.metrics_rollup()
    assert list(MetricMinute.objects.filter(series=HTTP_REQUEST, labels_key=KEY).order_by("minute")
                .values_list("count", flat=True)) == [2000, 1]
    # Both minutes are in the same hour: its row holds them together.
    hour = MetricHour.objects.get(series=HTTP_REQUEST, labels_key=KEY)
    assert (hour.hour, hour.count, hour.errors) == (minute.replace(minute=0), 2001, 50)
    _assert_percentiles(hour, [*values, 5.0])


_OTHER_PROCESS = """
import json, sys
import django
django.setup()
from django.test import Client
from levqor import metrics
client = Client()
codes = {client.get("/api/v1/workflows").status_code for _ in range(int(sys.argv[1]))}
metrics.metrics_flush(everything=True)  # as at its exit
print(json.dumps({"codes": sorted(codes), "minutes": sorted({g.minute for g in metrics.metrics_held()})}))
"""

WORKFLOWS_401 = {"route": "/api/v1/workflows", "method": "GET", "status_class": "4xx"}


def _workflow_401s() -> int:
    return sum(MetricMinute.objects.filter(series=HTTP_REQUEST, labels__route="/api/v1/workflows")
               .values_list("count", flat=True))


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_real_processes_add_up_and_late_figures_join_their_row(client):
    for _ in range(7):
        assert client.get("/api/v1/workflows").status_code == 401
    metrics.metrics_flush(everything=True)
    later = timezone.now() + timedelta(minutes=2)  # every minute of this test is over by then
    rollup.metrics_rollup(now=later)
    assert _workflow_401s() == 7
    # Another web process, sending after the rollup passed its minute (a late send).
    other = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, "5"], env=worker_env(),  # noqa: S603
                           capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout.strip().splitlines()[-1]) == {"codes": [401], "minutes": []}
    rollup.metrics_rollup(now=later)
    assert _workflow_401s() == 12
    rows = MetricMinute.objects.filter(series=HTTP_REQUEST, labels__route="/api/v1/workflows")
    assert all(sum(row.histogram.values()) == row.count and row.labels == WORKFLOWS_401 for row in rows)
    rollup.metrics_rollup(now=later)
    assert _workflow_401s() == 12


@pytest.mark.django_db(transaction=True)
def test_two_rollups_at_once_count_every_figure_once():
    now = timezone.now()
    for ms in _latencies(300):
        metric_observe(HTTP_REQUEST, LABELS, ms)
    metrics.metrics_flush(everything=True)
    for ms in _latencies(200, seed=3):  # a second send for the same minute (another process)
        metric_observe(HTTP_REQUEST, LABELS, ms)
    metrics.metrics_flush(everything=True)
    later = now + timedelta(minutes=2)
    _, errors = run_together(lambda: rollup.metrics_rollup(now=later))
    assert not errors
    assert sum(MetricMinute.objects.filter(series=HTTP_REQUEST).values_list("count", flat=True)) == 500


@pytest.mark.redis
@pytest.mark.django_db
def test_a_claim_left_by_a_rollup_that_died_is_added_once(frozen_clock):
    metric_observe(HTTP_REQUEST, LABELS, 10.0)
    frozen_clock.advance(60)
    metric_observe(HTTP_REQUEST, LABELS, 20.0)
    frozen_clock.advance(60)
    metrics.metrics_flush()
    before = int(frozen_clock.minute.timestamp())
    # A rollup claims both minutes, adds the first (then dies before releasing it), never the second.
    first, second = sorted(metrics.metrics_claim_finished(before=before), key=lambda c: c.minute)
    MetricBatch.objects.create(batch=first.batch, applied_at=timezone.now())
    rollup.metric_minutes_add(metrics.metrics_claim_read(first))
    assert rollup.metrics_rollup()["rows"] == 0  # too recent to be taken over: its rollup may still run
    frozen_clock.advance(rollup.CLAIM_TAKEOVER_SECONDS + 1)
    rollup.metrics_rollup()
    assert list(MetricMinute.objects.filter(series=HTTP_REQUEST).order_by("minute")
                .values_list("count", "sum_ms")) == [(1, 10.0), (1, 20.0)]
    assert metrics.metrics_claims_left(older_than_seconds=0) == []
    rollup.metrics_rollup()
    assert MetricMinute.objects.filter(series=HTTP_REQUEST).count() == 2


@pytest.mark.skipif(ON_REDIS, reason="the embedded mode's store")
@pytest.mark.django_db
def test_embedded_a_process_sends_a_finished_minute_as_one_insert(frozen_clock, django_assert_num_queries):
    for ms in (1.0, 2.0, 3.0):
        metric_observe(HTTP_REQUEST, LABELS, ms)
    metric_observe(JOB_RUN, {"workflow": "demo.flow"}, 4.0)
    frozen_clock.advance(60)
    with django_assert_num_queries(1):
        assert metrics.metrics_flush() == 2
    shard = MetricShard.objects.get(series=HTTP_REQUEST)
    assert (shard.count, shard.sum_ms, shard.labels, shard.minute) == (3, 6.0, LABELS,
                                                                      frozen_clock.minute - timedelta(minutes=1))


@pytest.mark.django_db(transaction=True)
def test_the_flusher_thread_sends_what_no_request_carried(frozen_clock):
    metric_observe(HTTP_REQUEST, LABELS, 10.0)
    frozen_clock.advance(60)
    thread = metrics.flusher_start(interval=0.02)
    try:
        deadline = time.monotonic() + 10  # wall time: Django's clock is stopped
        while metrics.metrics_held() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        metrics.flusher_stop(thread)
    assert metrics.metrics_held() == []
    rollup.metrics_rollup()
    assert MetricMinute.objects.get(series=HTTP_REQUEST).count == 1


@pytest.mark.django_db(transaction=True)
def test_requests_write_nothing_to_the_database_for_metrics_not_even_when_a_minute_ends(
        api, frozen_clock, settings):
    def intake_queries():
        with CaptureQueriesContext(connection) as queries:
            assert post_json(api, "/api/v1/intake", DEMO).status_code == 202
        assert not [q["sql"] for q in queries if "intelligence_metric" in q["sql"]]
        return len(queries)

    intake_queries()  # cold: the key, its use, the month's usage row, the day's spend row
    measured = {}
    for enabled in (True, False):
        settings.METRICS_ENABLED = enabled
        api.handler.load_middleware()  # the middleware is in the chain only when enabled
        steady = intake_queries()
        frozen_clock.advance(60)  # a minute ends; its first request also writes the key's last use
        measured[enabled] = (steady, intake_queries())
    assert measured[True] == measured[False]
    assert not MetricShard.objects.exists() and not MetricMinute.objects.exists()


@pytest.mark.django_db
def test_jobs_are_measured_by_a_real_run_wait_run_time_and_outcome(user, frozen_clock):
    ok = job_submit(user, payload={"n": 1})
    flaky = job_submit(user, payload={"fail_times": 1})
    frozen_clock.advance(2.5)  # both wait 2.5 s from due to start
    assert job_run_due(max_seconds=5) == 2
    assert Job.objects.get(pk=ok.pk).status == "succeeded" and Job.objects.get(pk=flaky.pk).status == "queued"
    wait = held(JOB_WAIT)["workflow=demo.flow"]
    assert (wait.count, wait.sum_ms) == (2, 5000.0)
    run = held(JOB_RUN)["workflow=demo.flow"]
    assert (run.count, run.errors) == (2, 1)
    outcomes = held(JOB_OUTCOME)
    assert {key: (g.count, g.errors) for key, g in outcomes.items()} == {
        "outcome=succeeded,workflow=demo.flow": (1, 0), "outcome=retried,workflow=demo.flow": (1, 1)}
    frozen_clock.advance(60)
    rollup.metrics_rollup()
    row = MetricMinute.objects.get(series=JOB_WAIT)
    assert row.labels == {"workflow": "demo.flow"} and 2500 <= row.p95_ms <= 2750


@pytest.mark.django_db
def test_the_queue_depth_is_the_number_of_due_queued_jobs_each_minute(user, frozen_clock):
    for _ in range(3):
        job_submit(user)
    later = job_submit(user)
    Job.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    running = job_submit(user)
    Job.objects.filter(pk=running.pk).update(status="running")
    assert rollup.metrics_rollup()["queue_depth"] == 3
    frozen_clock.advance(60)
    job_run_due(max_seconds=5)
    rollup.metrics_rollup()
    assert list(MetricMinute.objects.filter(series=QUEUE_DEPTH).order_by("minute")
                .values_list("minute", "value")) == [(frozen_clock.minute - timedelta(minutes=1), 3.0),
                                                     (frozen_clock.minute, 0.0)]
    assert MetricHour.objects.get(series=QUEUE_DEPTH).value == 3.0  # the hour's peak


@pytest.mark.django_db
def test_rows_older_than_the_retention_are_purged(settings):
    settings.METRICS_RETENTION_DAYS = 30
    now = timezone.now().replace(second=0, microsecond=0)
    for days in (31, 29, 0):
        MetricMinute.objects.create(minute=now - timedelta(days=days), series=HTTP_REQUEST, labels_key=KEY, count=1)
    MetricBatch.objects.create(batch="1:old", applied_at=now - timedelta(days=8))
    MetricBatch.objects.create(batch="2:new", applied_at=now - timedelta(days=1))
    MetricHour.objects.create(hour=now - timedelta(days=31), series=HTTP_REQUEST, labels_key=KEY, count=1)
    result = rollup.metrics_purge(now=now)
    assert (result["minutes"], result["hours"], result["batches"]) == (1, 1, 1)
    assert not MetricHour.objects.exists()
    assert sorted((now - m).days for m in MetricMinute.objects.values_list("minute", flat=True)) == [0, 29]
    assert list(MetricBatch.objects.values_list("batch", flat=True)) == ["2:new"]


@pytest.mark.django_db(transaction=True)  # django-q2's scheduler closes the connection of a test transaction
def test_the_schedules_are_declared_and_run_the_rollup(frozen_clock):
    rollup_schedule = Schedule.objects.get(name="intelligence.rollup")  # written by migrate
    purge = Schedule.objects.get(name="intelligence.metrics_purge")
    assert (rollup_schedule.func, rollup_schedule.schedule_type, rollup_schedule.minutes, rollup_schedule.repeats) == (
        "intelligence.tasks.metrics_rollup", Schedule.MINUTES, 1, -1)
    assert (purge.func, purge.schedule_type) == ("intelligence.tasks.metrics_purge", Schedule.DAILY)
    metric_observe(HTTP_REQUEST, LABELS, 10.0)
    frozen_clock.advance(60)
    schedules_fire()
    frozen_clock.advance(1)  # the ORM broker hands out a task only once its lock time has passed
    ran = {func: result for func, _, result in tasks_drain()}
    assert ran["intelligence.tasks.metrics_rollup"]["rows"] == 1
    assert "intelligence.tasks.metrics_purge" in ran
    assert MetricMinute.objects.get(series=HTTP_REQUEST).count == 1
