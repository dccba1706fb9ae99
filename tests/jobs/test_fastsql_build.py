"""The prebuilt SQL of the hot paths writes and reads rows exactly as the ORM would."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from jobs.fastsql import build
from jobs.models import Job, JobEvent
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db


def _orm_values(obj, fields):
    return [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]


def _comparable(values):
    return [getattr(v, "obj", v) for v in values]  # psycopg's Jsonb wrapper has no ==; its .obj does


@pytest.mark.parametrize("changes", [
    {},  # every field at its default
    {"status": "running", "attempts": 2, "priority": 2, "livemode": False, "error_code": "x",
     "lease_expires_at": "soon", "estimated_cost": Decimal("0.25"), "result": {"ok": True}, "actual_cost": Decimal(0)},
])
def test_insert_values_are_the_orms_whichever_fields_keep_their_defaults(user, changes):
    now = timezone.now()
    job = Job(owner=user, workflow="demo.flow", payload={"a": [1, 2]}, created_at=now, next_attempt_at=now)
    for name, value in changes.items():
        setattr(job, name, now + timedelta(minutes=1) if value == "soon" else value)
    _, fields = build.insert_statement(Job, connection.vendor)
    ours = build.insert_values(job, fields, connection)
    job.updated_at = None  # auto_now: both must set it; compare everything else exactly
    theirs = _orm_values(job, fields)
    updated = [i for i, f in enumerate(fields) if f.name == "updated_at"][0]
    assert ours[updated] is not None
    assert _comparable(ours[:updated] + ours[updated + 1:]) == _comparable(theirs[:updated] + theirs[updated + 1:])


def test_a_row_read_back_by_the_claims_reader_equals_the_orms(user):
    now = timezone.now()
    job = JobFactory(owner=user, payload={"x": "y"}, created_at=now, estimated_cost=Decimal("0.001"),
                     spend_day=now.date())
    names = ("id", "owner", "livemode", "payload", "estimated_cost", "spend_day", "created_at")
    columns = ", ".join(Job._meta.get_field(n).column for n in names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM {Job._meta.db_table} WHERE id = %s",  # noqa: S608
                       [Job._meta.pk.get_db_prep_value(job.pk, connection)])
        read = build.row_reader(Job, names, connection.vendor)(cursor.fetchone())
    orm = Job.objects.get(pk=job.pk)
    assert [getattr(read, Job._meta.get_field(n).attname) for n in names] == [
        getattr(orm, Job._meta.get_field(n).attname) for n in names]
    assert not read._state.adding


def test_the_reader_refuses_fields_out_of_model_order():
    with pytest.raises(ValueError):
        build.row_reader(JobEvent, ("kind", "id"), connection.vendor)
