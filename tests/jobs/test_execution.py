"""Running jobs in-process: retries and backoff, timeouts, cancel, priority, the reaper and the
compare-and-set rules that keep a job from being lost or recorded twice (ARCHITECTURE.md §4)."""

import statistics
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.db import connection
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.redis_broker import Redis as RedisBroker
from django_q.models import Schedule

from jobs import dispatch
from jobs.execution import Outcome, job_claim, job_finish, job_reap, job_run_due, job_run_next
from jobs.models import DailySpend, Job
from jobs.services import job_cancel
from jobs.workflows import JobContext, TransientJobError, Workflow
from tests.conftest import post_json
from tests.jobs.support import (
    event_kinds,
    job_lease_expire,
    job_make_due,
    job_submit,
    schedules_fire,
    tasks_drain,
    workflow_registered,
)

pytestmark = pytest.mark.django_db


def _workflow(name, handler, *, timeout_seconds=5.0, max_attempts=3):
    return Workflow(name=name, description="test", payload_schema={"type": "object"}, handler=handler,
                    estimate_cost=lambda payload: Decimal("0.001"), timeout_seconds=timeout_seconds,
                    max_attempts=max_attempts)


def _spent(user) -> Decimal:
    return DailySpend.objects.get(owner=user).amount


# --- retries and backoff ----------------------------------------------------------------------

def test_transient_failures_are_retried_with_backoff_until_the_job_succeeds(user, django_capture_on_commit_callbacks):
    job = job_submit(user, payload={"fail_times": 2})

    # JOB_RETRY_BASE_SECONDS is 2: the waits are within [1, 2] s, then [2, 4] s.
    for attempt, (low, high) in enumerate([(1, 2), (2, 4)], start=1):
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert job_run_next() is not None
        job.refresh_from_db()
        assert (job.status, job.attempts, job.error_code) == ("queued", attempt, "simulated_failure")
        wait = (job.next_attempt_at - before).total_seconds()
        assert low <= wait <= high + 1, wait
        # The retry is a django-q2 ONCE schedule at the retry time.
        assert Schedule.objects.filter(func=dispatch.RUN_NEXT, schedule_type=Schedule.ONCE,
                                       next_run=job.next_attempt_at).count() == 1
        assert job_run_next() is None, "a job waiting for its backoff must not be claimed"
        job_make_due(job)

    assert job_run_next().pk == job.pk
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code, job.result) == ("succeeded", 3, "", {"echo": {"fail_times": 2}})
    assert event_kinds(job) == ["created", "started", "attempt_failed", "retry_scheduled",
                                "started", "attempt_failed", "retry_scheduled", "started", "succeeded"]
    failed = job.events.filter(kind="attempt_failed").order_by("attempt")
    assert [(e.attempt, e.error_code, e.data["retryable"]) for e in failed] == [
        (1, "simulated_failure", True), (2, "simulated_failure", True)]


def test_a_job_that_keeps_failing_ends_failed_after_max_attempts(user, django_capture_on_commit_callbacks):
    job = job_submit(user, payload={"fail_times": 10})
    assert job.max_attempts == 3
    for _ in range(3):
        job_make_due(job)
        with django_capture_on_commit_callbacks(execute=True):
            job_run_next()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code) == ("failed", 3, "simulated_failure")
    assert job.finished_at is not None and job.lease_expires_at is None
    assert event_kinds(job)[-2:] == ["attempt_failed", "failed"]
    # Two retries were scheduled, none after the last attempt.
    assert Schedule.objects.filter(func=dispatch.RUN_NEXT).count() == 2
    job_make_due(job)
    assert job_run_next() is None
    # A failed job costs nothing: its reservation is released.
    assert (job.actual_cost, _spent(user)) == (Decimal(0), Decimal(0))


@pytest.mark.parametrize("attempt", [1, 2, 3, 5, 8])
def test_backoff_is_exponential_with_equal_jitter(attempt, settings):
    settings.JOB_RETRY_BASE_SECONDS = 2
    settings.JOB_RETRY_MAX_SECONDS = 600
    ceiling = 2 * 2 ** (attempt - 1)
    samples = [dispatch.backoff_seconds(attempt) for _ in range(400)]
    assert all(ceiling / 2 <= s <= ceiling for s in samples)
    # Jitter spreads the waits across the whole band instead of synchronising retries.
    assert min(samples) < ceiling * 0.6 and max(samples) > ceiling * 0.9
    assert abs(statistics.mean(samples) - ceiling * 0.75) < ceiling * 0.05


def test_backoff_is_capped(settings):
    settings.JOB_RETRY_BASE_SECONDS = 2
    settings.JOB_RETRY_MAX_SECONDS = 60
    assert all(30 <= dispatch.backoff_seconds(40) <= 60 for _ in range(100))
    assert all(5 <= dispatch.backoff_seconds(3, base=5, cap=10) <= 10 for _ in range(100))


def test_a_crashing_handler_fails_the_job_at_once_without_retry(user):
    def crash(ctx, payload):
        raise RuntimeError("bug in the handler")

    with workflow_registered(_workflow("test.crash", crash)):
        job = job_submit(user, "test.crash")
        job_run_next()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code) == ("failed", 1, "handler_error")
    assert "bug in the handler" not in job.error_message  # no internals leak to the customer
    assert not Schedule.objects.filter(func=dispatch.RUN_NEXT).exists()


def test_a_job_whose_workflow_disappeared_fails_with_unknown_workflow(user):
    with workflow_registered(_workflow("test.gone", lambda ctx, payload: {})):
        job = job_submit(user, "test.gone")
    job_run_next()
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("failed", "unknown_workflow")


def test_a_result_that_is_not_json_fails_the_job(user):
    with workflow_registered(_workflow("test.object", lambda ctx, payload: {"x": object()})):
        job = job_submit(user, "test.object")
        job_run_next()
    job.refresh_from_db()
    assert (job.status, job.error_code, job.result) == ("failed", "handler_error", None)


# --- timeout ----------------------------------------------------------------------------------

def test_a_job_past_its_timeout_is_stopped_and_retried_then_failed_with_timeout(user):
    def slow(ctx, payload):
        ctx.sleep(5)  # checks the deadline between naps
        return {"done": True}

    with workflow_registered(_workflow("test.slow", slow, timeout_seconds=0.2, max_attempts=2)):
        job = job_submit(user, "test.slow")
        started = time.monotonic()
        job_run_next()
        assert time.monotonic() - started < 2, "the deadline must stop the handler, not the 5 s sleep"
        job.refresh_from_db()
        assert (job.status, job.error_code) == ("queued", "timeout")  # a timeout is transient
        assert job.events.get(kind="attempt_failed").error_code == "timeout"

        job_make_due(job)
        job_run_next()
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code, job.result) == ("failed", 2, "timeout", None)


def test_a_handler_that_overruns_without_checkpoints_does_not_succeed(user):
    def blocking(ctx, payload):
        time.sleep(0.3)
        return {"late": True}

    with workflow_registered(_workflow("test.blocking", blocking, timeout_seconds=0.05, max_attempts=1)):
        job = job_submit(user, "test.blocking")
        job_run_next()
    job.refresh_from_db()
    assert (job.status, job.error_code, job.result) == ("failed", "timeout", None)


def test_job_context_counts_time_with_its_clock():
    now = [100.0]
    ctx = JobContext(job_id="j", attempt=1, livemode=True, timeout_seconds=10, cancel_requested=lambda: False,
                     clock=lambda: now[0])
    assert ctx.remaining() == 10
    now[0] = 109.5
    ctx.checkpoint()
    now[0] = 110.0
    with pytest.raises(TransientJobError) as caught:
        ctx.checkpoint()
    assert caught.value.code == "timeout"


def test_job_context_polls_for_cancel_at_most_every_quarter_second():
    now, polls = [0.0], []
    ctx = JobContext(job_id="j", attempt=1, livemode=True, timeout_seconds=60,
                     cancel_requested=lambda: polls.append(now[0]) or False, clock=lambda: now[0])
    for step in range(10):
        now[0] = step / 10
        ctx.checkpoint()
    assert [round(t, 1) for t in polls] == [0.0, 0.3, 0.6, 0.9]


# --- cancel -----------------------------------------------------------------------------------

def test_cancelling_a_queued_job_is_immediate_and_it_never_runs(user):
    job = job_submit(user, payload={"hello": 1})
    job = job_cancel(job=job)
    assert (job.status, job.error_code) == ("cancelled", "cancelled")
    assert job.finished_at is not None
    assert job_run_next() is None
    assert event_kinds(job) == ["created", "cancelled"]
    assert _spent(user) == 0


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_job_stops_it_at_its_next_checkpoint(user):
    job = job_submit(user, payload={"delay_ms": 8000})
    finished = {}

    def worker():
        try:
            finished["job"] = job_run_next(worker="test-thread")
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    started = time.monotonic()
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while Job.objects.filter(pk=job.pk, status="running").count() == 0:
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.01)
        running = job_cancel(job=Job.objects.get(pk=job.pk))
        assert (running.status, running.cancel_requested_at is not None) == ("running", True)
    finally:
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3, "the cancel must not wait for the 8 s of work"
    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts) == ("cancelled", "cancelled", 1)
    assert event_kinds(job) == ["created", "started", "cancel_requested", "cancelled"]
    assert _spent(user) == 0


def test_a_cancel_requested_while_running_wins_over_a_retry(user, django_capture_on_commit_callbacks):
    """A transient failure after a cancel request must end the job, not queue it again."""
    job = job_submit(user, payload={"fail_times": 1})
    claimed = job_claim(worker="w1")
    job_cancel(job=claimed)
    outcome = Outcome(Job.Status.FAILED, error=TransientJobError("simulated_failure", "flaky"))
    with django_capture_on_commit_callbacks(execute=True):
        assert job_finish(claimed, outcome, duration_ms=5) == "cancelled"
    job.refresh_from_db()
    assert (job.status, job.finished_at is not None) == ("cancelled", True)
    assert not Schedule.objects.filter(func=dispatch.RUN_NEXT).exists()
    job_make_due(job)
    assert job_run_next() is None


# --- priority ---------------------------------------------------------------------------------

def test_claims_take_high_then_normal_then_low_and_oldest_first_within_each(user):
    base = timezone.now() - timedelta(minutes=10)
    order = ["low", "normal", "high", "low", "high", "normal", "normal", "high", "low"]
    jobs = []
    for i, priority in enumerate(order):
        job = job_submit(user, payload={"n": i}, priority=priority)
        Job.objects.filter(pk=job.pk).update(created_at=base + timedelta(seconds=i))
        jobs.append((priority, i, job.pk))
    # A high-priority job that is not due yet (waiting for its backoff) waits its turn.
    later = job_submit(user, payload={"n": "later"}, priority="high")
    Job.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=1))

    claimed = []
    while (job := job_claim(worker="w")) is not None:
        claimed.append(job.pk)
    rank = {"high": 0, "normal": 1, "low": 2}
    assert claimed == [pk for _, _, pk in sorted(jobs, key=lambda j: (rank[j[0]], j[1]))]
    assert later.pk not in claimed


# --- the reaper and compare-and-set -------------------------------------------------------------

def test_the_reaper_requeues_a_job_whose_worker_went_silent(user):
    job = job_submit(user)
    job_claim(worker="dead-worker")
    assert job_reap()["requeued"] == 0, "a live lease is left alone"

    job_lease_expire(job)
    Job.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    reaped_at = timezone.now()
    assert job_reap()["requeued"] == 1
    job.refresh_from_db()
    assert (job.status, job.error_code, job.lease_expires_at) == ("queued", "lease_expired", None)
    assert job.updated_at >= reaped_at, "the dashboard's refresher sees the change"
    lease = job.events.get(kind="lease_expired")
    assert (lease.attempt, lease.from_status, lease.to_status) == (1, "running", "queued")

    assert job_run_next().pk == job.pk
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code) == ("succeeded", 2, "")


def test_the_reaper_fails_a_job_that_went_silent_on_its_last_attempt(user):
    job = job_submit(user, callback_url="https://example.com/hook")
    Job.objects.filter(pk=job.pk).update(max_attempts=1)
    job_claim(worker="dead-worker")
    job_lease_expire(job)
    assert job_reap()["failed"] == 1
    job.refresh_from_db()
    assert (job.status, job.error_code, job.finished_at is not None) == ("failed", "lease_expired", True)
    assert job.callback_status == "pending"
    assert _spent(user) == 0


def test_the_reaper_ends_a_silent_job_as_cancelled_when_a_cancel_was_requested(user):
    job = job_submit(user)
    job_cancel(job=job_claim(worker="dead-worker"))
    job_lease_expire(job)
    job_reap()
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("cancelled", "cancelled")


def test_a_late_finish_from_a_worker_that_lost_its_lease_changes_nothing(user):
    job = job_submit(user)
    stale = job_claim(worker="slow-worker")
    job_lease_expire(job)
    job_reap()
    fresh = job_claim(worker="fresh-worker")
    assert (fresh.pk, fresh.attempts) == (job.pk, 2)

    assert job_finish(stale, Outcome(Job.Status.SUCCEEDED, result={"from": "stale"}), duration_ms=1) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker, job.result) == ("running", 2, "fresh-worker", None)

    assert job_finish(fresh, Outcome(Job.Status.SUCCEEDED, result={"from": "fresh"}), duration_ms=1) == "succeeded"
    job.refresh_from_db()
    assert job.result == {"from": "fresh"}
    assert job.events.filter(kind="succeeded").count() == 1


def test_the_reaper_gives_lost_run_tokens_back_and_the_jobs_run(user):
    jobs = [job_submit(user, payload={"n": i}) for i in range(3)]
    get_broker().purge_queue()  # django-q2 lost the run tokens (or, on Redis, they were never sent)
    assert dispatch.queue_size() == 0
    assert job_reap()["tokens"] == dispatch.tokens_enough() == 2, "a token per worker: each runs until none is due"
    assert job_reap()["tokens"] == 0, "tokens already waiting are not sent twice"
    ran = tasks_drain()
    assert [func for func, _, _ in ran] == [dispatch.RUN_NEXT] * 2
    assert set(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.django_db(transaction=True)  # django-q2's scheduler closes the connection of a test transaction
def test_a_retry_schedule_fires_a_run_token_that_runs_the_job(user):
    job = job_submit(user, payload={"fail_times": 1})
    tasks_drain()  # intake's run token
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("queued", 1)
    job_make_due(job)
    schedules_fire()  # the cluster's scheduler turns the due ONCE schedule into a task
    assert not Schedule.objects.filter(func=dispatch.RUN_NEXT).exists(), "a ONCE schedule runs once"
    ran = [func for func, _, _ in tasks_drain()]
    assert dispatch.RUN_NEXT in ran  # (beside the recurring reaper, also due)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("succeeded", 2)


# --- the broker is down -----------------------------------------------------------------------

@pytest.fixture
def broker_down(monkeypatch):
    """This thread's django-q2 broker pointed at a Redis that does not answer."""
    broker = RedisBroker.__new__(RedisBroker)
    broker.list_key = "django_q:unreachable:q"
    broker.connection = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=None)
    monkeypatch.setattr(dispatch._local, "broker", broker, raising=False)
    yield
    dispatch._local.broker = None


@pytest.mark.django_db(transaction=True)
def test_intake_accepts_the_job_while_the_broker_is_down_and_the_reaper_sends_it_later(api, broker_down):
    response = post_json(api, "/api/v1/jobs", {"workflow": "demo.flow", "payload": {"n": 1}})
    assert response.status_code == 201, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "queued"

    dispatch._local.broker = None  # the broker is back
    assert job_reap()["tokens"] == 1
    tasks_drain()
    job.refresh_from_db()
    assert job.status == "succeeded"


# --- one run token, many jobs ------------------------------------------------------------------

def test_a_run_token_runs_the_whole_backlog_best_first_then_stops(user):
    low = job_submit(user, payload={"n": 1}, priority="low")
    high = job_submit(user, payload={"n": 2}, priority="high")
    normal = job_submit(user, payload={"n": 3})
    waiting = job_submit(user, payload={"n": 4})
    Job.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert job_run_due() == 3, "every due job ran on one token; the one waiting for its backoff did not"
    # In the order they ran (a batch claim gives the jobs of one batch the same started_at).
    started = list(Job.objects.filter(status="succeeded").order_by("finished_at").values_list("pk", flat=True))
    assert started == [high.pk, normal.pk, low.pk]
    assert Job.objects.get(pk=waiting.pk).status == "queued"
    assert job_run_due() == 0


def test_a_run_token_starts_no_new_job_once_its_time_is_spent(user):
    first, second = job_submit(user, payload={"n": 1}), job_submit(user, payload={"n": 2})
    get_broker().purge_queue()
    assert job_run_due(max_seconds=0) == 1, "the job under way finishes; no new one starts after the budget"
    assert sorted(Job.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == [
        "queued", "succeeded"]
    assert dispatch.queue_size() == 1, "a token carries on with the job left"
    tasks_drain()
    assert Job.objects.filter(pk__in=[first.pk, second.pk], status="succeeded").count() == 2


def test_the_worker_check_refuses_a_batch_that_could_outlive_djangoq2s_timeout(settings):
    from django.core.checks import run_checks

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 60}
    assert "levqor.E101" in [e.id for e in run_checks()], "llm.chat may take 90 s: 60 s would kill it mid-run"
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 150}
    assert "levqor.E101" not in [e.id for e in run_checks()]
