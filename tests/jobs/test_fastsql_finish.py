"""jobs.fastsql.finish against its plain-ORM twin (jobs.execution.job_finish_orm): an attempt's final
state writes the same job row, events and day's spend, marks the same callback, and refuses alike
when the lease is lost, on SQLite and on PostgreSQL."""

import copy
from datetime import timedelta
from decimal import Decimal

import pytest

from jobs import execution
from jobs.execution import Outcome
from jobs.models import DailySpend, Job, JobEvent
from jobs.workflows import JobError, TransientJobError
from tests.twins import freeze_now, rows, run_and_undo

pytestmark = pytest.mark.django_db

ESTIMATE = Decimal("0.002")
CANCELLED = JobError("cancelled", "Cancelled while running.")

OUTCOMES = {
    "succeeded-at-its-estimate": Outcome(Job.Status.SUCCEEDED, result={"echo": {"a": [1, "b"]}}, cost=ESTIMATE),
    "succeeded-at-another-cost": Outcome(Job.Status.SUCCEEDED, result={"reply": "hi"}, cost=Decimal("0.0031")),
    "succeeded-with-no-result": Outcome(Job.Status.SUCCEEDED, result=None, cost=Decimal(0)),
    "failed-for-good": Outcome(Job.Status.FAILED, error=JobError("bad_input", "No.", details={"field": "url"}),
                               cost=Decimal("0.0004")),
    "failed-on-the-last-attempt": Outcome(Job.Status.FAILED, error=TransientJobError("upstream_503", "Try later.")),
    "cancelled-while-running": Outcome(Job.Status.CANCELLED, error=CANCELLED, cost=None),
}


def _snapshot():
    return {"jobs": rows(Job), "events": rows(JobEvent, exclude=("id",),
                                                                       order_by=("job_id", "kind")),
            "spend": rows(DailySpend, exclude=("id",), order_by=("owner_id", "day", "livemode"))}


def _running_job(owner, now, *, callback_url: str, attempts: int, actual_cost) -> Job:
    job = Job.objects.create(owner=owner, workflow="demo.flow", payload={"x": 1}, status=Job.Status.RUNNING,
                             attempts=attempts, max_attempts=attempts, estimated_cost=ESTIMATE, actual_cost=actual_cost,
                             callback_url=callback_url, spend_day=now.date(), created_at=now, next_attempt_at=now,
                             started_at=now, lease_expires_at=now, worker="w:1")
    # Last changed when it was claimed, a while ago: finishing must move updated_at (the
    # dashboard's refresher reads it), which update() alone would not.
    Job.objects.filter(pk=job.pk).update(updated_at=now - timedelta(minutes=5))
    DailySpend.objects.create(owner=owner, day=now.date(), livemode=True, amount=Decimal("0.5"))
    DailySpend.objects.create(owner=owner, day=now.date(), livemode=False, amount=Decimal("0.25"))
    return job


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize(("callback_url", "attempts", "actual_cost"), [
    ("", 1, None), ("https://example.com/hook", 3, Decimal("0.0007"))], ids=["first-attempt", "with-callback-retried"])
@pytest.mark.parametrize("lease", ["held", "lost-to-the-reaper", "another-attempt-holds-it"])
def test_the_prebuilt_finish_writes_what_the_orm_writes(user, monkeypatch, outcome, callback_url, attempts,
                                                        actual_cost, lease):
    now = freeze_now(monkeypatch)
    job_id = _running_job(user, now, callback_url=callback_url, attempts=attempts, actual_cost=actual_cost).pk
    claimed = Job.objects.get(pk=job_id)  # the worker's view of its job: what it claimed
    if lease == "lost-to-the-reaper":
        Job.objects.filter(pk=job_id).update(status=Job.Status.QUEUED)
    elif lease == "another-attempt-holds-it":
        Job.objects.filter(pk=job_id).update(attempts=attempts + 1, max_attempts=attempts + 1)
    before = _snapshot()
    done = OUTCOMES[outcome]
    status = done.status

    def fast():
        answer = execution.job_finish(copy.deepcopy(claimed), done, duration_ms=1234)
        return answer, Job.objects.filter(pk=job_id).values_list("updated_at", flat=True).get()

    def orm():
        return execution.job_finish_orm(copy.deepcopy(claimed), done, status=status, retry_at=None,
                                        run_cost=done.cost or Decimal(0), now=now, duration_ms=1234)

    (fast_answer, fast_updated_at), fast_rows = run_and_undo(fast, _snapshot)
    orm_answer, orm_rows = run_and_undo(orm, _snapshot)

    assert fast_answer == orm_answer
    assert fast_rows == orm_rows
    if lease == "held":
        assert fast_answer == status and fast_updated_at == now
        assert fast_rows["jobs"][0]["callback_status"] == ("pending" if callback_url else "none")
        assert len(fast_rows["events"]) > len(before["events"])
    else:
        assert fast_answer is None and fast_rows == before


def test_a_retry_re_queues_the_job_and_marks_it_changed(user, monkeypatch):
    now = freeze_now(monkeypatch)
    job_id = _running_job(user, now, callback_url="", attempts=1, actual_cost=None).pk
    Job.objects.filter(pk=job_id).update(max_attempts=3)
    claimed = Job.objects.get(pk=job_id)
    flaky = Outcome(Job.Status.FAILED, error=TransientJobError("upstream_503", "Try later."))
    assert execution.job_finish(claimed, flaky, duration_ms=10) == Job.Status.QUEUED
    job = Job.objects.get(pk=job_id)
    assert (job.status, job.updated_at) == (Job.Status.QUEUED, now)
