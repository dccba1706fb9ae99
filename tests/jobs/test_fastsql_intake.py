"""jobs.fastsql.intake against its plain-ORM twin (jobs.services.job_insert_orm): the same job, event,
day's spend and run token, or the same refusal, on SQLite and on PostgreSQL. Where the prebuilt
intake declines (no spend row yet today, over budget) it writes nothing, and the intake goes on
with the twin."""

import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django_q.models import OrmQ

from jobs.fastsql import intake
from jobs.models import DailySpend, Job, JobEvent
from jobs.services import job_insert_orm
from tests.twins import freeze_now, rows, run_and_undo

pytestmark = pytest.mark.django_db

JOB_ID = uuid.UUID("00000000-0000-4000-8000-00000000a001")
ESTIMATE = Decimal("0.25")


@pytest.fixture
def now(monkeypatch):
    return freeze_now(monkeypatch)


def _job(owner, now, *, livemode: bool) -> Job:
    """A new job as jobs.services.job_create builds it."""
    return Job(id=JOB_ID, owner=owner, api_key=None, livemode=livemode, workflow="demo.flow",
               payload={"hello": "world", "n": [1, 2.5, None]}, callback_url="https://example.com/hook",
               priority=Job.Priority.HIGH, max_attempts=3, estimated_cost=ESTIMATE, idempotency_key="",
               created_at=now, next_attempt_at=now, spend_day=now.date())


def _snapshot():
    return {"jobs": rows(Job), "events": rows(JobEvent, exclude=("id",)),
            "spend": rows(DailySpend, exclude=("id",), order_by=("owner_id", "day", "livemode")),
            "run_tokens": OrmQ.objects.count()}


@pytest.mark.parametrize(("livemode", "spent_before", "taken"), [
    (True, Decimal(0), True),  # room today
    (False, Decimal(0), True),  # test mode: its own day's spend
    (True, None, False),  # the day's first job: no spend row yet
    (True, "just fits", True),
    (True, "one millionth over", False),  # refused: cost_limit_exceeded
], ids=["room", "test-mode", "first-of-the-day", "just-fits", "over-budget"])
def test_the_prebuilt_intake_writes_what_the_orm_writes(user, now, livemode, spent_before, taken):
    budget = settings.DAILY_BUDGET
    spent = {"just fits": budget - ESTIMATE, "one millionth over": budget - ESTIMATE + Decimal("0.000001")}.get(
        spent_before, spent_before)
    if spent is not None:
        DailySpend.objects.create(owner=user, day=now.date(), livemode=livemode, amount=spent)
    # The other mode's spend must not move.
    DailySpend.objects.create(owner=user, day=now.date(), livemode=not livemode, amount=Decimal("1.5"))
    before = _snapshot()

    fast_answer, fast_rows = run_and_undo(lambda: intake.job_insert(job=_job(user, now, livemode=livemode), now=now),
                                          _snapshot)
    orm_answer, orm_rows = run_and_undo(lambda: job_insert_orm(job=_job(user, now, livemode=livemode), now=now),
                                        _snapshot)

    assert fast_answer is taken
    if taken:
        assert orm_answer is None  # accepted
        assert fast_rows == orm_rows
        assert [job["id"] for job in fast_rows["jobs"]] == [JOB_ID]
    else:
        assert fast_rows == before  # declined: nothing written; the intake goes on with the twin
        both = run_and_undo(lambda: _declined_then_orm(user, now, livemode), _snapshot)
        assert both == (orm_answer, orm_rows)
    if spent_before == "one millionth over":
        assert orm_answer[:2] == ("error", "cost_limit_exceeded") and orm_rows == before


def _declined_then_orm(user, now, livemode):
    """What jobs.services does without an idempotency key: the prebuilt intake, else the twin."""
    job = _job(user, now, livemode=livemode)
    assert intake.job_insert(job=job, now=now) is False
    return job_insert_orm(job=job, now=now)

