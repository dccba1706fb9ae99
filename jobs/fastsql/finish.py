"""An attempt's final state (succeeded, failed, cancelled) in SQL built once: the compare-and-set on
the lease, the event rows, the day's spend settled and the callback marked pending, all or nothing.
One statement on PostgreSQL, prebuilt statements in one transaction on SQLite. Its plain-ORM twin
is jobs.execution.job_finish_orm."""

import json
import uuid
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from jobs.fastsql import build, claim
from jobs.models import DailySpend, Job, JobEvent
from jobs.services import spend_adjust
from levqor.webhooks.models import WebhookEndpoint

# Whether the job's owner has an enabled account endpoint (read in the finishing statement): when it
# has none and the job no callback_url, the hand-over after the commit (jobs.callbacks, two ORM
# queries) has nothing to do and is skipped. Which event types an endpoint takes is the hand-over's
# own check; this only says whether it can find anything.
_ENDPOINTS_SQL = (f"EXISTS (SELECT 1 FROM {WebhookEndpoint._meta.db_table} e WHERE e.owner_id = {{job}}.owner_id "  # noqa: S608
                  f"AND e.audience = '{WebhookEndpoint.Audience.ACCOUNT}' AND e.enabled)")


def job_finish_final(job: Job, *, status: str, result, run_cost: Decimal, error_code: str, error_message: str,
                     events: list[JobEvent], now, endpoints_wanted: bool = True,
                     claim_next: dict | None = None) -> tuple[tuple[str, bool] | None, Job | None]:
    """Record a final status for the attempt `job` is on, only if that attempt still holds the job
    (still running, same attempt count): the status, result, error and finish time, run_cost added
    to the actual cost, the events inserted, the day's spend moved by run_cost minus the reserved
    estimate, and a callback marked pending when the job has a callback_url. None when the lease
    was lost (nothing is written); else (the job's callback_url, "" when it has none; whether its
    owner has an enabled account endpoint, asked only when endpoints_wanted, else False).

    With claim_next (jobs.fastsql.claim.job_claim's keyword arguments, its `now` this `now`), the
    worker's next job is claimed in the same round trip (PostgreSQL: the same statement; SQLite:
    the same IMMEDIATE transaction), starting when this one ends: its lease starts as it does alone.
    Returns (what is said above, the next job claimed or None)."""
    kwargs = {"status": status, "result": result, "run_cost": run_cost, "error_code": error_code,
              "error_message": error_message, "events": events, "now": now, "endpoints_wanted": endpoints_wanted,
              "claim_next": claim_next}
    if build.db().vendor == "postgresql":
        return _finish_postgres(job, **kwargs)
    return _finish_sqlite(job, **kwargs)


def _final_update_sql(json_cast: str) -> str:
    """The compare-and-set that records a final state (and marks a callback pending), shared by
    both databases; json_cast types the result parameter where the database needs it."""
    return (f"UPDATE {Job._meta.db_table} SET status = %s, lease_expires_at = NULL, finished_at = %s, "  # noqa: S608
            f"result = %s{json_cast}, actual_cost = COALESCE(actual_cost, 0) + %s, error_code = %s, "
            "error_message = %s, updated_at = %s, "
            "callback_status = CASE WHEN callback_url <> '' THEN 'pending' ELSE callback_status END, "
            "callback_attempts = CASE WHEN callback_url <> '' THEN 0 ELSE callback_attempts END, "
            "callback_next_at = CASE WHEN callback_url <> '' THEN %s ELSE callback_next_at END "
            "WHERE id = %s AND status = 'running' AND attempts = %s")


def _final_update_params(job: Job, *, status: str, result, run_cost, error_code: str, error_message: str, at,
                         job_id) -> list:
    result = None if result is None else json.dumps(result, cls=DjangoJSONEncoder)
    return [status, at, result, run_cost, error_code, error_message, at, at, job_id, job.attempts]


def _finish_postgres(job: Job, *, status: str, result, run_cost: Decimal, error_code: str, error_message: str,
                     events: list[JobEvent], now, endpoints_wanted: bool, claim_next: dict | None):
    """All of it as one statement, in one round trip (with the next claim when asked)."""
    delta = run_cost - job.estimated_cost
    rows_sql = ", ".join(["(%s, %s, %s, %s, %s, %s::jsonb, %s::numeric)"] * len(events))
    rows = [v for e in events for v in (e.kind, e.to_status, e.duration_ms, e.error_code, e.error_message,
                                         json.dumps(e.data, cls=DjangoJSONEncoder), e.cost)]
    event_table = JobEvent._meta.db_table
    statement = f"""
        WITH finished AS (
            {_final_update_sql("::jsonb")}
            RETURNING id, owner_id, spend_day, livemode, callback_url
        ), logged AS (
            INSERT INTO {event_table} (job_id, attempt, from_status, at, kind, to_status, duration_ms, error_code,
                                       error_message, data, cost)
            SELECT finished.id, %s, 'running', %s, v.* FROM finished
            CROSS JOIN (VALUES {rows_sql}) AS v(kind, to_status, duration_ms, error_code, error_message, data, cost)
        ), settled AS (
            UPDATE {DailySpend._meta.db_table} d SET amount = d.amount + %s FROM finished
            WHERE %s AND d.owner_id = finished.owner_id AND d.day = finished.spend_day
              AND d.livemode = finished.livemode
        )
        {{claim_ctes}}
        SELECT f.id, f.callback_url, f.endpoints{{claimed_columns}} FROM (SELECT 1) AS one
        LEFT JOIN (SELECT id, callback_url, %s AND {_ENDPOINTS_SQL.format(job="finished")} AS endpoints
                   FROM finished) AS f ON true
        {{claimed_join}}
    """  # noqa: S608  (table names come from our models; every value is a parameter)
    params = [*_final_update_params(job, status=status, result=result, run_cost=run_cost, error_code=error_code,
                                    error_message=error_message, at=now, job_id=job.pk),
              job.attempts, now, *rows, delta, delta != 0]
    statement = _with_claim(statement, params, claim_next)
    params.append(endpoints_wanted)
    with build.db().cursor() as cursor:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    finished = None if row[0] is None else (row[1], bool(row[2]))
    following = None if claim_next is None or row[3] is None else claim.claimed_read(row[3:])
    return finished, following


def _finish_sqlite(job: Job, *, status: str, result, run_cost: Decimal, error_code: str, error_message: str,
                   events: list[JobEvent], now, endpoints_wanted: bool, claim_next: dict | None):
    """The compare-and-set with SQL built once, then the events and the spend, in one transaction
    (and the next claim in it when asked)."""
    with transaction.atomic():
        finished = _finish_sqlite_writes(job, status=status, result=result, run_cost=run_cost, error_code=error_code,
                                         error_message=error_message, events=events, now=now,
                                         endpoints_wanted=endpoints_wanted)
        following = None if claim_next is None else claim.job_claim(**claim_next)
    return finished, following


def _finish_sqlite_writes(job: Job, *, status: str, result, run_cost: Decimal, error_code: str, error_message: str,
                          events: list[JobEvent], now, endpoints_wanted: bool) -> tuple[str, bool] | None:
    """The finish's writes, inside the caller's transaction."""
    connection = build.db()
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        endpoints = _ENDPOINTS_SQL.format(job=Job._meta.db_table) if endpoints_wanted else "0"
        cursor.execute(f"{_final_update_sql('')} RETURNING callback_url, {endpoints}",
                       _final_update_params(job, status=status, result=result, run_cost=str(run_cost),
                                            error_code=error_code, error_message=error_message, at=at,
                                            job_id=job.pk.hex))
        finished = cursor.fetchone()
    if finished is None:
        return None
    build.insert_rows(events)
    spend_adjust(job=job, delta=run_cost - job.estimated_cost)
    return finished[0], bool(finished[1])


def jobs_finish_final_many(items: list[dict], *, claim_next: dict | None = None
                           ) -> tuple[list[tuple[str, bool] | None], list[Job]]:
    """job_finish_final for several jobs at once (a worker's grouped finishes, jobs.execution), each
    with its own compare-and-set, events, finish time and spend, all in one statement on PostgreSQL
    and one IMMEDIATE transaction on SQLite; with claim_next (job_claim_batch's keyword arguments,
    `limit` among them) the worker's next jobs are claimed in the same round trip. items: the keyword
    arguments of job_finish_final plus `job`. Returns (per item what job_finish_final returns for it,
    the jobs claimed)."""
    if build.db().vendor == "postgresql":
        return _finish_many_postgres(items, claim_next=claim_next)
    with transaction.atomic():
        finished = _finish_many_sqlite(items)
        following = [] if claim_next is None else claim.job_claim_batch(**claim_next)
    return finished, following


def _finish_many_sqlite(items: list[dict]) -> list[tuple[str, bool] | None]:
    """Each finish's compare-and-set, then the events of those that held in one INSERT, and the
    spend, inside the caller's transaction."""
    connection = build.db()
    ops = connection.ops
    out, events = [], []
    with connection.cursor() as cursor:
        for item in items:
            job = item["job"]
            at = ops.adapt_datetimefield_value(item["now"])
            endpoints = _ENDPOINTS_SQL.format(job=Job._meta.db_table) if item["endpoints_wanted"] else "0"
            cursor.execute(f"{_final_update_sql('')} RETURNING callback_url, {endpoints}",
                           _final_update_params(job, status=item["status"], result=item["result"],
                                                run_cost=str(item["run_cost"]), error_code=item["error_code"],
                                                error_message=item["error_message"], at=at, job_id=job.pk.hex))
            row = cursor.fetchone()
            if row is None:
                out.append(None)
                continue
            out.append((row[0], bool(row[1])))
            for e in item["events"]:
                events.append((job.pk.hex, e.kind, e.attempt, e.from_status, e.to_status, e.duration_ms, e.error_code,
                               e.error_message, json.dumps(e.data, cls=DjangoJSONEncoder),
                               None if e.cost is None else ops.adapt_decimalfield_value(e.cost, 12, 6), at))
        claim.events_insert_sqlite(cursor, events)
    for item, done in zip(items, out, strict=True):
        if done is not None:
            spend_adjust(job=item["job"], delta=item["run_cost"] - item["job"].estimated_cost)
    return out


def _finish_many_postgres(items: list[dict], *, claim_next: dict | None):
    """One statement: the finishes as a VALUES list joined to the compare-and-set update, their
    events, the day's spend settled per owner and day, and the next claim."""
    job_rows, event_rows, params_jobs, params_events = [], [], [], []
    n = 0
    for item in items:
        job = item["job"]
        result = item["result"]
        job_rows.append("(%s::uuid, %s::int, %s, %s::timestamptz, %s::jsonb, %s::numeric, %s, %s, %s::numeric, %s::bool)")
        params_jobs += [job.pk, job.attempts, item["status"], item["now"],
                        None if result is None else json.dumps(result, cls=DjangoJSONEncoder), item["run_cost"],
                        item["error_code"], item["error_message"], item["run_cost"] - job.estimated_cost,
                        item.get("endpoints_wanted", True)]
        for e in item["events"]:
            n += 1
            event_rows.append("(%s::int, %s::uuid, %s::int, %s::timestamptz, %s, %s, %s::int, %s, %s, %s::jsonb, "
                              "%s::numeric)")
            params_events += [n, job.pk, job.attempts, item["now"], e.kind, e.to_status, e.duration_ms, e.error_code,
                              e.error_message, json.dumps(e.data, cls=DjangoJSONEncoder), e.cost]
    job_table, event_table, spend_table = Job._meta.db_table, JobEvent._meta.db_table, DailySpend._meta.db_table
    statement = f"""
        WITH v(id, attempts, status, at, result, run_cost, error_code, error_message, delta, endpoints_wanted) AS (
            VALUES {", ".join(job_rows)}
        ), finished AS (
            UPDATE {job_table} j SET status = v.status, lease_expires_at = NULL, finished_at = v.at,
                result = v.result, actual_cost = COALESCE(j.actual_cost, 0) + v.run_cost,
                error_code = v.error_code, error_message = v.error_message, updated_at = v.at,
                callback_status = CASE WHEN j.callback_url <> '' THEN 'pending' ELSE j.callback_status END,
                callback_attempts = CASE WHEN j.callback_url <> '' THEN 0 ELSE j.callback_attempts END,
                callback_next_at = CASE WHEN j.callback_url <> '' THEN v.at ELSE j.callback_next_at END
            FROM v WHERE j.id = v.id AND j.status = 'running' AND j.attempts = v.attempts
            RETURNING j.id, j.owner_id, j.spend_day, j.livemode, j.callback_url, v.delta, v.endpoints_wanted
        ), ev(n, job_id, attempt, at, kind, to_status, duration_ms, error_code, error_message, data, cost) AS (
            VALUES {", ".join(event_rows)}
        ), logged AS (
            INSERT INTO {event_table} (job_id, attempt, from_status, at, kind, to_status, duration_ms, error_code,
                                       error_message, data, cost)
            SELECT ev.job_id, ev.attempt, 'running', ev.at, ev.kind, ev.to_status, ev.duration_ms, ev.error_code,
                   ev.error_message, ev.data, ev.cost
            FROM ev JOIN finished ON finished.id = ev.job_id ORDER BY ev.n
        ), settled AS (
            UPDATE {spend_table} d SET amount = d.amount + s.delta
            FROM (SELECT owner_id, spend_day, livemode, sum(delta) AS delta FROM finished
                  GROUP BY owner_id, spend_day, livemode) AS s
            WHERE s.delta <> 0 AND d.owner_id = s.owner_id AND d.day = s.spend_day AND d.livemode = s.livemode
        )
        {{claim_ctes}}
        SELECT (SELECT json_agg(json_build_array(f.id, f.callback_url,
                                                 f.endpoints_wanted AND {_ENDPOINTS_SQL.format(job="f")}))
                FROM finished f){{claimed_columns}}
        FROM (SELECT 1) AS one {{claimed_join}}
    """  # noqa: S608  (table names come from our models; every value is a parameter)
    params = [*params_jobs, *params_events]
    statement = _with_claim(statement, params, claim_next)
    with build.db().cursor() as cursor:
        cursor.execute(statement, params)
        rows = cursor.fetchall()
    done = {uuid.UUID(str(pk)): (url, bool(endpoints)) for pk, url, endpoints in (rows[0][0] or [])}
    finished = [done.get(item["job"].pk) for item in items]
    following = [] if claim_next is None else claim.claimed_sorted(
        [claim.claimed_read(row[1:]) for row in rows if row[1] is not None])
    return finished, following


def _with_claim(statement: str, params: list, claim_next: dict | None) -> str:
    """A finishing statement with the next job's claim joined in (its CTEs, parameters appended to
    params), or without one."""
    if claim_next is None:
        return statement.format(claim_ctes="", claimed_columns="", claimed_join="")
    ctes, claim_params = claim.claim_postgres_ctes(**claim_next)
    params += claim_params
    return statement.format(claim_ctes=", " + ctes, claimed_columns=", c.*",
                            claimed_join="LEFT JOIN claimed AS c ON true")
