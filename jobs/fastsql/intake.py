"""The intake of a new job in SQL built once: reserve its estimate within the day's budget, insert
the job and its 'created' event. One statement on PostgreSQL, three in one transaction on SQLite.
Its plain-ORM twin is jobs.services.job_insert_orm."""

import contextlib
import functools
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from jobs import dispatch
from jobs.fastsql import build
from jobs.models import DailySpend, Job, JobEvent


@dataclass(frozen=True)
class IntakeSql:
    reserve: str  # PostgreSQL: the whole intake as one CTE; SQLite: the reservation alone
    job_insert: str
    event_insert: str
    job_fields: tuple
    event_fields: tuple


@functools.cache
def intake_sql(vendor: str) -> IntakeSql:
    """The fast intake's SQL, built once per process (and kept prepared by PostgreSQL)."""
    job_columns, job_marks, job_fields = build.insert_parts(Job, vendor)
    event_columns, event_marks, event_fields = build.insert_parts(JobEvent, vendor)
    # Table and column names come from our models; every value is a parameter.
    reserve = (f"UPDATE {DailySpend._meta.db_table} SET amount = amount + %s "  # noqa: S608
               "WHERE owner_id = %s AND day = %s AND livemode = %s AND amount <= %s")
    if vendor == "postgresql":
        reserve = f"""
            WITH reserved AS ({reserve} RETURNING 1),
            created AS (
                INSERT INTO {Job._meta.db_table} ({job_columns}) SELECT {job_marks} FROM reserved RETURNING id
            ), logged AS (
                INSERT INTO {JobEvent._meta.db_table} ({event_columns}) SELECT {event_marks} FROM created
            )
            SELECT count(*) FROM created
        """  # noqa: S608
    return IntakeSql(reserve, build.insert_statement(Job, vendor)[0], build.insert_statement(JobEvent, vendor)[0],
                     job_fields, event_fields)


def job_insert(*, job: Job, now) -> bool:
    """Reserve the estimate within today's budget and insert the job and its 'created' event, all
    or nothing, with SQL built once: one statement on PostgreSQL, three in one transaction on
    SQLite. False when the reservation did not pass (no spend row yet today, or over budget):
    nothing is written, and the caller then takes the ORM path, which says why."""
    db = build.db()
    statements = intake_sql(db.vendor)
    event = JobEvent(job=job, kind=JobEvent.Kind.CREATED, to_status=Job.Status.QUEUED, at=now,
                     data={"estimated_cost": str(job.estimated_cost)})
    spend = DailySpend._meta.get_field
    reserve = [spend(name).get_db_prep_value(value, db) for name, value in (
        ("amount", job.estimated_cost), ("owner", job.owner_id), ("day", job.spend_day), ("livemode", job.livemode),
        ("amount", settings.DAILY_BUDGET - job.estimated_cost))]
    job_values = build.insert_values(job, statements.job_fields, db)
    event_values = build.insert_values(event, statements.event_fields, db)
    one_statement = db.vendor == "postgresql"  # atomic by itself: no BEGIN/COMMIT round trips
    with contextlib.nullcontext() if one_statement else transaction.atomic(using=db.alias), db.cursor() as cursor:
        if one_statement:
            cursor.execute(statements.reserve, [*reserve, *job_values, *event_values])
            inserted = cursor.fetchone()[0] == 1
        else:
            cursor.execute(statements.reserve, reserve)
            inserted = cursor.rowcount == 1
            if inserted:
                cursor.execute(statements.job_insert, job_values)
                cursor.execute(statements.event_insert, event_values)
        if inserted:
            job._state.adding = False
            dispatch.run_token_with_commit()
    return inserted
