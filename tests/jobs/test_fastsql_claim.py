"""jobs.fastsql.claim against its plain-ORM twin (below): the same job is claimed and read back, with
the same lease, attempt and 'started' event, on SQLite and on PostgreSQL; and with low priority
paused (min_priority NORMAL: stabilize mode, incident recovery), the same job or none."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from jobs.fastsql import claim
from jobs.models import Job, JobEvent
from tests.twins import freeze_now, rows, run_and_undo

pytestmark = pytest.mark.django_db

WORKER = "host-a:4242"
LEASES = {"demo.flow": 40.0, "http.request": 75.0}
DEFAULT_LEASE = 90.0


def _claim_orm(*, now, worker, leases, default_lease, min_priority=Job.Priority.LOW) -> Job | None:
    """The claim in plain ORM: the best due queued job of at least min_priority, marked running
    under its lease, its event logged."""
    with transaction.atomic():
        picked = (Job.objects.select_for_update(skip_locked=True)
                  .filter(status=Job.Status.QUEUED, next_attempt_at__lte=now, priority__gte=min_priority)
                  .order_by("-priority", "created_at").only("pk", "workflow").first())
        if picked is None:
            return None
        Job.objects.filter(pk=picked.pk, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING, attempts=F("attempts") + 1, started_at=Coalesce("started_at", Value(now)),
            lease_expires_at=now + timedelta(seconds=leases.get(picked.workflow, default_lease)), worker=worker,
            updated_at=now)
        job = Job.objects.get(pk=picked.pk)
        JobEvent.objects.create(job=job, kind=JobEvent.Kind.STARTED, attempt=job.attempts, at=now,
                                from_status=Job.Status.QUEUED, to_status=Job.Status.RUNNING, data={"worker": worker})
        return job


def _claimed(job: Job | None):
    """What a worker reads of the job it claimed."""
    if job is None:
        return None
    return {name: getattr(job, Job._meta.get_field(name).attname) for name in claim.CLAIM_FIELDS}


def _snapshot():
    return {"jobs": rows(Job), "events": rows(JobEvent, exclude=("id",), order_by=("job_id", "at", "kind"))}


def _job(owner, now, *, ago: float, priority=Job.Priority.NORMAL, status=Job.Status.QUEUED, due_in: float = -1,
         workflow="demo.flow", **fields) -> Job:
    return Job.objects.create(owner=owner, workflow=workflow, payload={"ago": ago}, priority=priority, status=status,
                              created_at=now - timedelta(seconds=ago), next_attempt_at=now + timedelta(seconds=due_in),
                              estimated_cost=Decimal("0.001"), spend_day=now.date(), **fields)


SCENARIOS = {
    "nothing-queued": lambda owner, now: [],
    "nothing-due-yet": lambda owner, now: [_job(owner, now, ago=5, due_in=30)],
    "high-before-normal-before-low": lambda owner, now: [
        _job(owner, now, ago=30, priority=Job.Priority.LOW), _job(owner, now, ago=20),
        _job(owner, now, ago=1, priority=Job.Priority.HIGH)],
    "oldest-first-within-a-priority": lambda owner, now: [_job(owner, now, ago=3), _job(owner, now, ago=9),
                                                          _job(owner, now, ago=6)],
    "running-and-finished-are-passed-over": lambda owner, now: [
        _job(owner, now, ago=50, status=Job.Status.RUNNING, priority=Job.Priority.HIGH, attempts=1),
        _job(owner, now, ago=40, status=Job.Status.SUCCEEDED, priority=Job.Priority.HIGH),
        _job(owner, now, ago=2, workflow="http.request", callback_url="https://example.com/h")],
    "a-retry-keeps-its-first-start": lambda owner, now: [
        _job(owner, now, ago=100, attempts=1, started_at=now - timedelta(seconds=80), actual_cost=Decimal("0.0005"),
             error_code="timeout", error_message="slow", cancel_requested_at=None)],
    "a-workflow-no-longer-registered": lambda owner, now: [_job(owner, now, ago=4, workflow="gone.flow")],
    "only-low-priority-due": lambda owner, now: [
        _job(owner, now, ago=30, priority=Job.Priority.LOW), _job(owner, now, ago=5, due_in=30)],
    "low-and-normal-due": lambda owner, now: [
        _job(owner, now, ago=90, priority=Job.Priority.LOW), _job(owner, now, ago=2)],
}
PAUSED = Job.Priority.NORMAL  # what a worker takes while low priority is paused


@pytest.mark.parametrize("min_priority", [Job.Priority.LOW, PAUSED], ids=["all", "low-paused"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_prebuilt_claim_takes_and_writes_what_the_orm_would(user, monkeypatch, scenario, min_priority):
    now = freeze_now(monkeypatch)
    SCENARIOS[scenario](user, now)
    before = _snapshot()
    args = {"now": now, "worker": WORKER, "leases": LEASES, "default_lease": DEFAULT_LEASE,
            "min_priority": min_priority}

    fast, fast_rows = run_and_undo(lambda: _claimed(claim.job_claim(**args)), _snapshot)
    orm, orm_rows = run_and_undo(lambda: _claimed(_claim_orm(**args)), _snapshot)

    assert fast == orm
    assert fast_rows == orm_rows
    if scenario in ("nothing-queued", "nothing-due-yet") or (scenario == "only-low-priority-due"
                                                             and min_priority == PAUSED):
        assert fast is None and fast_rows == before
    else:
        assert fast["status"] == Job.Status.RUNNING and fast["worker"] == WORKER
        lease = fast["lease_expires_at"] - now
        assert lease == timedelta(seconds=LEASES.get(
            Job.objects.get(pk=fast["id"]).workflow, DEFAULT_LEASE))
        assert len(fast_rows["events"]) == len(before["events"]) + 1


def test_while_low_priority_is_paused_the_claim_takes_the_best_other_job(user, monkeypatch):
    now = freeze_now(monkeypatch)
    old_low = _job(user, now, ago=90, priority=Job.Priority.LOW)
    normal = _job(user, now, ago=2)
    args = {"now": now, "worker": WORKER, "leases": LEASES, "default_lease": DEFAULT_LEASE}
    assert claim.job_claim(**args, min_priority=PAUSED).pk == normal.pk
    assert claim.job_claim(**args, min_priority=PAUSED) is None  # the low one waits, still queued
    assert Job.objects.get(pk=old_low.pk).status == Job.Status.QUEUED
    assert claim.job_claim(**args).pk == old_low.pk  # resumed: it runs
