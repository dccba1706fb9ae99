"""Money of attempts that failed, fresh callback attempts after a retry, and the reaper's
cleanup of expired idempotency answers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs.execution import job_reap, job_run_next
from jobs.models import DailySpend, IdempotencyRecord, Job
from jobs.services import job_callback_schedule, job_retry
from jobs.workflows import TransientJobError, Workflow
from tests.factories import UserFactory
from tests.jobs.support import job_make_due, job_submit, workflow_registered

pytestmark = pytest.mark.django_db(transaction=True)


def _billed_then(outcomes):
    """A workflow that spends 0.01 on every attempt, then fails or succeeds as scripted."""
    def handle(ctx, payload):
        ctx.actual_cost = Decimal("0.01")
        if outcomes.pop(0) == "fail":
            raise TransientJobError("flaky", "Failed after spending.")
        return {"ok": True}
    return Workflow(name="test.billed", description="", payload_schema={"type": "object"}, handler=handle,
                    estimate_cost=lambda payload: Decimal("0.05"), timeout_seconds=5, max_attempts=3)


def test_cost_of_failed_attempts_is_billed_with_the_final_one():
    owner = UserFactory()
    with workflow_registered(_billed_then(["fail", "fail", "ok"])):
        job = job_submit(owner, "test.billed")
        spend = DailySpend.objects.get(owner=owner)
        assert spend.amount == Decimal("0.05")  # the estimate is reserved at intake
        for _ in range(3):
            job_make_due(job)
            assert job_run_next() is not None
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 3
    assert job.actual_cost == Decimal("0.03")
    spend.refresh_from_db()
    assert spend.amount == Decimal("0.03")  # settled to what the three attempts really cost


def test_a_retried_job_gets_a_fresh_set_of_callback_attempts():
    owner = UserFactory()
    job = job_submit(owner, callback_url="http://127.0.0.1:9/hook")
    Job.objects.filter(pk=job.pk).update(status="failed", callback_status="failed",
                                         callback_attempts=8)
    job.refresh_from_db()
    job = job_retry(job=job)
    job_callback_schedule(job=job)
    job.refresh_from_db()
    assert job.callback_status == "pending" and job.callback_attempts == 0


def test_reaper_drops_idempotency_answers_older_than_a_day():
    owner = UserFactory()
    old = IdempotencyRecord.objects.create(owner=owner, livemode=True, key="old", endpoint="jobs", request_hash="x",
                                           response_status=201, response_body={},
                                           created_at=timezone.now() - timedelta(hours=25))
    fresh = IdempotencyRecord.objects.create(owner=owner, livemode=True, key="fresh", endpoint="jobs",
                                             request_hash="y", response_status=201, response_body={})
    report = job_reap()
    assert report["idempotency_expired"] == 1
    assert not IdempotencyRecord.objects.filter(pk=old.pk).exists()
    assert IdempotencyRecord.objects.filter(pk=fresh.pk).exists()
