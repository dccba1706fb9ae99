"""A run token claims a small batch of due jobs at once, each under its own lease, starts each only
while that lease still covers its whole timeout, gives back what it did not start, and writes the
finishes of quick jobs in groups (jobs.execution._job_run_due_batched)."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.brokers import get_broker

from jobs import dispatch, execution
from jobs.execution import _claim_kwargs, job_reap, job_run_due
from jobs.fastsql import claim
from jobs.models import DailySpend, Job
from jobs.workflows import Workflow
from tests.jobs.support import event_kinds, job_lease_expire, job_submit, workflow_registered

pytestmark = pytest.mark.django_db


def _batch_claim(limit=8):
    now = timezone.now()
    return now, claim.job_claim_batch(**{**_claim_kwargs(now), "limit": limit})


def test_a_batch_claim_takes_several_jobs_best_first_each_under_its_own_lease(user, settings):
    slow = Workflow(name="test.batch-long", description="test", payload_schema={"type": "object"},
                    handler=lambda ctx, payload: {}, estimate_cost=lambda payload: Decimal("0.001"),
                    timeout_seconds=120)
    with workflow_registered(slow):
        low = job_submit(user, priority="low")
        high = job_submit(user, "test.batch-long", priority="high")
        normal = job_submit(user)
        with CaptureQueriesContext(connection) as captured:
            now, jobs = _batch_claim(limit=8)
    assert [j.pk for j in jobs] == [high.pk, normal.pk, low.pk]
    if connection.vendor == "postgresql":
        assert len([q for q in captured.captured_queries if "jobs_job" in q["sql"]]) == 1, "one statement"
    grace = settings.JOB_LEASE_GRACE_SECONDS
    for job, timeout in ((high, 120), (normal, 30), (low, 30)):
        job.refresh_from_db()
        assert (job.status, job.attempts, job.started_at) == ("running", 1, now)
        assert job.lease_expires_at == now + timedelta(seconds=timeout + grace), "its own workflow's lease"
        assert event_kinds(job) == ["created", "started"]
    assert claim.job_claim_batch(**{**_claim_kwargs(timezone.now()), "limit": 8}) == [], "none handed out twice"


def test_a_batch_claim_takes_at_most_its_limit(user):
    for _ in range(5):
        job_submit(user)
    _, jobs = _batch_claim(limit=3)
    assert len(jobs) == 3
    assert Job.objects.filter(status="queued").count() == 2


class _Clock:
    """execution._clock for a test: a millisecond per reading, plus what a handler adds."""

    def __init__(self):
        self.now, self.extra = time.monotonic(), 0.0

    def __call__(self):
        self.now += 0.001
        return self.now + self.extra


def test_jobs_of_a_batch_not_started_within_half_the_grace_go_back_to_the_queue_unrun(user, settings, monkeypatch):
    settings.JOB_LEASE_GRACE_SECONDS = 0.05  # half the grace: 25 ms
    clock = _Clock()
    monkeypatch.setattr(execution, "_clock", clock)
    monkeypatch.setitem(execution._RUN_MS, "", 0.1)  # quick runs so far: a batch is claimed

    def takes_30_ms(ctx, payload):
        clock.extra += 0.03  # quick (under the 50 ms of a slow run), but past half the grace
        return {}

    workflow = Workflow(name="test.batch-30ms", description="test", payload_schema={"type": "object"},
                        handler=takes_30_ms, estimate_cost=lambda payload: Decimal("0.001"), timeout_seconds=5)
    with workflow_registered(workflow):
        jobs = [job_submit(user, "test.batch-30ms", payload={"n": n}) for n in range(3)]
        get_broker().purge_queue()
        assert job_run_due() == 1, "the second job would start after half the grace: not started"
        first, *rest = [Job.objects.get(pk=j.pk) for j in jobs]
        assert first.status == "succeeded"
        for job in rest:
            assert (job.status, job.attempts, job.started_at, job.lease_expires_at) == ("queued", 0, None, None)
            assert event_kinds(job) == ["created"], "the claim's 'started' is taken back: it never ran"
        assert dispatch.queue_size() == 1, "a token carries on with what was given back"
        monkeypatch.setattr(execution, "_clock", time.monotonic)
        settings.JOB_LEASE_GRACE_SECONDS = 30
        assert job_run_due() == 2
    assert sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]).values_list("attempts", flat=True)) == [1, 1, 1]


def test_after_a_slow_job_the_rest_of_its_batch_goes_to_free_workers_and_claims_are_single(user, monkeypatch):
    monkeypatch.setitem(execution._RUN_MS, "", 0.1)
    slow = job_submit(user, payload={"delay_ms": 80}, priority="high")
    quick = [job_submit(user, payload={"n": n}) for n in range(2)]
    get_broker().purge_queue()
    assert job_run_due() == 1, "the slow job ran; the two claimed with it were given back"
    assert Job.objects.get(pk=slow.pk).status == "succeeded"
    assert list(Job.objects.filter(pk__in=[j.pk for j in quick]).values_list("status", flat=True)) == ["queued"] * 2
    assert dispatch.queue_size() == 1, "a token for a free worker"
    with CaptureQueriesContext(connection) as captured:
        assert job_run_due() == 2
    if connection.vendor == "postgresql":
        claims = [q["sql"] for q in captured.captured_queries if "FOR UPDATE SKIP LOCKED" in q["sql"]]
        assert "LIMIT 1 FOR UPDATE" in claims[0], "the first claim after a slow run takes one job"
        assert "LIMIT 8 FOR UPDATE" in claims[-1], "after a quick one, a batch again"


def test_giving_back_is_a_compare_and_set_on_the_claims_own_lease(user):
    a, b = job_submit(user), job_submit(user)
    _, jobs = _batch_claim()
    # b's lease ran out, the reaper re-queued it and another worker claimed it again meanwhile.
    Job.objects.filter(pk=b.pk).update(attempts=2, lease_expires_at=timezone.now() + timedelta(minutes=1))
    assert claim.job_release_unstarted(jobs, now=timezone.now()) == 1
    assert Job.objects.get(pk=a.pk).status == "queued"
    b.refresh_from_db()
    assert (b.status, b.attempts) == ("running", 2), "another worker's run is left alone"


def test_a_worker_killed_mid_batch_leaves_its_jobs_to_the_reaper_and_none_runs_twice_at_once(user):
    jobs = [job_submit(user, payload={"n": n}) for n in range(3)]
    _, claimed = _batch_claim()  # a worker claims the batch and is killed before running any of it
    assert len(claimed) == 3
    get_broker().purge_queue()
    assert job_run_due() == 0, "another worker takes none of them while their leases hold"
    assert job_reap()["requeued"] == 0
    for job in jobs:
        job_lease_expire(job)
    assert job_reap()["requeued"] == 3
    assert job_run_due() == 3
    for job in jobs:
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("succeeded", 2)
        assert event_kinds(job) == ["created", "started", "lease_expired", "started", "succeeded"]


def test_quick_jobs_finishes_are_written_together_with_the_next_claim(user, monkeypatch):
    jobs = [job_submit(user, payload={"n": n}) for n in range(5)]
    spent_before = DailySpend.objects.get(owner=user).amount
    monkeypatch.setitem(execution._RUN_MS, "demo.flow", 0.1)  # known quick in this process
    monkeypatch.setitem(execution._RUN_MS, "", 0.1)
    with CaptureQueriesContext(connection) as captured:
        assert job_run_due() == 5
    job_writes = [q["sql"] for q in captured.captured_queries
                  if "jobs_job" in q["sql"].split(" WHERE ")[0] and "UPDATE" in q["sql"]]
    if connection.vendor == "postgresql":
        # the batch's claim, then one statement with the five finishes and the (empty) next claim
        assert len(job_writes) <= 3, job_writes
    done = sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]), key=lambda j: j.finished_at)
    assert [j.status for j in done] == ["succeeded"] * 5
    assert len({j.finished_at for j in done}) == 5, "each keeps its own finish time"
    for job in done:
        assert job.result == {"echo": {"n": job.payload["n"]}}
        assert event_kinds(job) == ["created", "started", "succeeded"]
        assert job.events.get(kind="succeeded").at == job.finished_at
        assert job.actual_cost == job.estimated_cost
    assert DailySpend.objects.get(owner=user).amount == spent_before, "the reservation settled to what ran"


def test_a_waiting_finish_is_written_before_a_job_not_known_to_be_quick(user, monkeypatch):
    seen = {}

    def slow(ctx, payload):
        seen["quick"] = Job.objects.get(pk=payload["quick"]).status
        return {}

    workflow = Workflow(name="test.batch-unknown", description="test", payload_schema={"type": "object"},
                        handler=slow, estimate_cost=lambda payload: Decimal("0.001"), timeout_seconds=5)
    with workflow_registered(workflow):
        monkeypatch.setitem(execution._RUN_MS, "demo.flow", 0.1)
        monkeypatch.setitem(execution._RUN_MS, "", 0.1)
        monkeypatch.delitem(execution._RUN_MS, "test.batch-unknown", raising=False)
        quick = job_submit(user, priority="high")
        job_submit(user, "test.batch-unknown", payload={"quick": str(quick.pk)})
        assert job_run_due() == 2
    assert seen["quick"] == "succeeded", "the quick job's finish was not held while an unknown one ran"


def test_a_grouped_finish_of_a_job_whose_lease_was_lost_changes_nothing(user, caplog):
    job = job_submit(user, payload={"n": 1})

    def reaped_meanwhile(*args, **kwargs):
        # The job's lease was taken from this worker (re-queued and claimed again) while it ran.
        Job.objects.filter(pk=job.pk).update(attempts=2)
        return {}

    original = execution.job_execute

    def execute(claimed, **kwargs):
        reaped_meanwhile()
        return original(claimed, **kwargs)

    execution.job_execute, saved = execute, execution.job_execute
    try:
        assert job_run_due() == 1
    finally:
        execution.job_execute = saved
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 2), "the late finish refused by the compare-and-set"
    assert "succeeded" not in event_kinds(job)
    assert "job lease lost before finishing" in caplog.text


def test_a_cancel_asked_after_the_batch_claim_stops_a_job_that_starts_later(user, monkeypatch, settings):
    settings.WORKER_FINISH_FLUSH_SECONDS = 1.0  # a 0.3 s run still counts as quick here: no slow cut
    clock = _Clock()
    monkeypatch.setattr(execution, "_clock", clock)
    monkeypatch.setitem(execution._RUN_MS, "", 0.1)

    def first(ctx, payload):
        # While the first job runs, a cancel is asked for the second (claimed with it, not started).
        from jobs.services import job_cancel

        job_cancel(job=Job.objects.get(pk=payload["other"]))
        clock.extra += 0.3  # the next job starts later than one cancel poll after the claim
        return {}

    workflow = Workflow(name="test.batch-canceller", description="test", payload_schema={"type": "object"},
                        handler=first, estimate_cost=lambda payload: Decimal("0.001"), timeout_seconds=5)
    with workflow_registered(workflow):
        second = job_submit(user)
        job_submit(user, "test.batch-canceller", payload={"other": str(second.pk)}, priority="high")
        monkeypatch.setitem(execution._RUN_MS, "test.batch-canceller", 0.1)
        get_broker().purge_queue()
        job_run_due()
    second.refresh_from_db()
    assert second.status == "cancelled", "the claim's stale read of 'no cancel' did not stand for a poll"
