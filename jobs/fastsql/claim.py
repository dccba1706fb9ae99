"""A worker's claim of the best due job (high priority before low, oldest first; low ones left
waiting while they are paused) under a lease, in
SQL built once: one statement on PostgreSQL (SKIP LOCKED), two plus the event insert in one
IMMEDIATE transaction on SQLite. Its plain-ORM twin lives in tests/jobs/test_fastsql_claim.py."""

import json
from collections.abc import Mapping
from datetime import timedelta

from django.db import transaction

from jobs.fastsql import build
from jobs.models import Job, JobEvent

# What a worker reads of the job it claims: what running and finishing it need, and when it became
# due (its queue wait, levqor.metrics); another field is loaded on first access, as with .only().
# In the model's field order.
CLAIM_FIELDS = ("id", "owner", "livemode", "workflow", "payload", "callback_url", "priority", "status", "attempts",
                "max_attempts", "next_attempt_at", "lease_expires_at", "worker", "cancel_requested_at", "estimated_cost",
                "actual_cost", "spend_day", "created_at", "started_at")


def job_claim(*, now, worker: str, leases: Mapping[str, float], default_lease: float,
              min_priority: int = Job.Priority.LOW) -> Job | None:
    """Take the best due queued job of at least min_priority and mark it running under a lease of
    leases[its workflow] seconds (default_lease for a workflow not named), with its 'started'
    event; None when no job is due. PostgreSQL skips rows another worker holds; SQLite's
    IMMEDIATE transactions serialise the claim, so a job is never handed to two workers.
    min_priority NORMAL leaves low-priority jobs waiting (stabilize mode, incident recovery):
    the same statement with another parameter, so it stays prepared."""
    if build.db().vendor == "postgresql":
        return _claim_postgres(now=now, worker=worker, leases=leases, default_lease=default_lease,
                               min_priority=min_priority)
    return _claim_sqlite(now=now, worker=worker, leases=leases, default_lease=default_lease,
                         min_priority=min_priority)


def _returning(alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + Job._meta.get_field(name).column for name in CLAIM_FIELDS)


def _claimed(row) -> Job | None:
    return None if row is None else build.row_reader(Job, CLAIM_FIELDS, build.db().vendor)(row)


def _claim_postgres(*, now, worker: str, leases: Mapping[str, float], default_lease: float,
                    min_priority: int) -> Job | None:
    """The claim as one statement: pick (SKIP LOCKED), mark running under a lease, log the
    'started' event. One round trip and one commit instead of five (see bench/README.md)."""
    ctes, params = claim_postgres_ctes(now=now, worker=worker, leases=leases, default_lease=default_lease,
                                       min_priority=min_priority)
    with build.db().cursor() as cursor:  # one statement: atomic on its own
        cursor.execute(f"WITH {ctes} SELECT * FROM claimed", params)  # noqa: S608 (our SQL; values are parameters)
        return claimed_read(cursor.fetchone())


def claim_postgres_ctes(*, now, worker: str, leases: Mapping[str, float], default_lease: float,
                        min_priority: int, limit: int = 1) -> tuple[str, list]:
    """The claim's common table expressions (picked, claimed: the job's CLAIM_FIELDS, claim_logged)
    and their parameters, to put in a WITH clause: alone, or after a finish (jobs.fastsql.finish).
    limit > 1 claims up to that many jobs at once (job_claim_batch), each under its own lease."""
    # The lease length per workflow as a SQL CASE, so the claim needs no second round trip.
    lease_sql = "CASE j.workflow " + " ".join("WHEN %s THEN %s" for _ in leases) + " ELSE %s END"
    lease_params = [v for name, seconds in leases.items() for v in (name, seconds)] + [default_lease]
    event_table, job_table = JobEvent._meta.db_table, Job._meta.db_table
    ctes = f"""
        picked AS (
            SELECT id FROM {job_table}
            WHERE status = 'queued' AND next_attempt_at <= %s AND priority >= %s
            ORDER BY priority DESC, created_at ASC
            LIMIT %s FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE {job_table} j
            SET status = 'running', attempts = j.attempts + 1, started_at = COALESCE(j.started_at, %s),
                lease_expires_at = %s + make_interval(secs => {lease_sql}), worker = %s, updated_at = %s
            FROM picked WHERE j.id = picked.id
            RETURNING {_returning("j")}
        ), claim_logged AS (
            INSERT INTO {event_table} (job_id, kind, attempt, from_status, to_status, duration_ms, error_code,
                                       error_message, data, at)
            SELECT id, 'started', attempts, 'queued', 'running', NULL, '', '', %s::jsonb, %s FROM claimed
        )
    """  # noqa: S608  (table names come from our models; every value is a parameter)
    params = [now, int(min_priority), int(limit), now, now, *lease_params, worker, now, json.dumps({"worker": worker}), now]
    return ctes, params


def claimed_read(row) -> Job | None:
    """The claimed job from the claim's CLAIM_FIELDS (None: nothing was due)."""
    return _claimed(row)


def _claim_sqlite(*, now, worker: str, leases: Mapping[str, float], default_lease: float,
                  min_priority: int) -> Job | None:
    """The claim on SQLite with SQL built once: the IMMEDIATE transaction holds the write lock
    from its start, so pick-then-update cannot hand a job to two workers."""
    connection = build.db()
    ops, table = connection.ops, Job._meta.db_table
    at = ops.adapt_datetimefield_value(now)
    # savepoint=False: inside a finish's transaction (jobs.fastsql.finish) the claim adds no savepoint.
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id, workflow FROM {table} WHERE status = 'queued' AND next_attempt_at <= %s "  # noqa: S608
                           "AND priority >= %s ORDER BY priority DESC, created_at ASC LIMIT 1", [at, int(min_priority)])
            picked = cursor.fetchone()
            if picked is None:
                return None
            lease = now + timedelta(seconds=leases.get(picked[1], default_lease))
            cursor.execute(
                f"UPDATE {table} SET status = 'running', attempts = attempts + 1, "  # noqa: S608
                "started_at = COALESCE(started_at, %s), lease_expires_at = %s, worker = %s, updated_at = %s "
                f"WHERE id = %s AND status = 'queued' RETURNING {_returning()}",
                [at, ops.adapt_datetimefield_value(lease), worker, at, picked[0]])
            job = _claimed(cursor.fetchone())
        if job is None:
            return None
        build.insert_rows([JobEvent(job=job, kind=JobEvent.Kind.STARTED, attempt=job.attempts, at=now,
                                    from_status=Job.Status.QUEUED, to_status=Job.Status.RUNNING,
                                    data={"worker": worker})])
    return job


def claimed_sorted(jobs: list[Job]) -> list[Job]:
    """Claimed jobs in the order a worker runs them: best first (high priority, then oldest)."""
    return sorted(jobs, key=lambda job: (-job.priority, job.created_at))


def job_claim_batch(*, now, worker: str, leases: Mapping[str, float], default_lease: float,
                    min_priority: int = Job.Priority.LOW, limit: int) -> list[Job]:
    """Up to `limit` of the best due jobs, each marked running under its own lease (its workflow's
    timeout plus the grace, from `now`) with its 'started' event, in one statement on PostgreSQL
    (SKIP LOCKED) and one IMMEDIATE transaction on SQLite; best first. The worker starts each only
    while its lease still covers its whole timeout, and gives back what it did not start
    (job_release_unstarted)."""
    if build.db().vendor == "postgresql":
        ctes, params = claim_postgres_ctes(now=now, worker=worker, leases=leases, default_lease=default_lease,
                                           min_priority=min_priority, limit=limit)
        with build.db().cursor() as cursor:  # one statement: atomic on its own
            cursor.execute(f"WITH {ctes} SELECT * FROM claimed", params)  # noqa: S608
            return claimed_sorted([_claimed(row) for row in cursor.fetchall()])
    return _claim_batch_sqlite(now=now, worker=worker, leases=leases, default_lease=default_lease,
                               min_priority=min_priority, limit=limit)


def _claim_batch_sqlite(*, now, worker: str, leases: Mapping[str, float], default_lease: float, min_priority: int,
                        limit: int) -> list[Job]:
    """The batch claim on SQLite: pick, one UPDATE for the batch (each its own lease), one multi-row
    INSERT of the 'started' events, in one IMMEDIATE transaction (the write lock from its start)."""
    connection = build.db()
    ops, table = connection.ops, Job._meta.db_table
    at = ops.adapt_datetimefield_value(now)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(f"SELECT id, workflow FROM {table} WHERE status = 'queued' AND next_attempt_at <= %s "  # noqa: S608
                       "AND priority >= %s ORDER BY priority DESC, created_at ASC LIMIT %s",
                       [at, int(min_priority), int(limit)])
        picked = cursor.fetchall()
        if not picked:
            return []
        lease_params = []
        for pk, workflow in picked:
            lease_params += [pk, ops.adapt_datetimefield_value(now + timedelta(seconds=leases.get(workflow,
                                                                                                   default_lease)))]
        cursor.execute(
            f"UPDATE {table} SET status = 'running', attempts = attempts + 1, "  # noqa: S608
            "started_at = COALESCE(started_at, %s), lease_expires_at = CASE id "
            + " ".join(["WHEN %s THEN %s"] * len(picked)) + " END, worker = %s, updated_at = %s "
            f"WHERE id IN ({', '.join(['%s'] * len(picked))}) AND status = 'queued' RETURNING {_returning()}",
            [at, *lease_params, worker, at, *[pk for pk, _ in picked]])
        jobs = [_claimed(row) for row in cursor.fetchall()]
        data = json.dumps({"worker": worker})
        events_insert_sqlite(cursor, [(job.pk.hex, "started", job.attempts, "queued", "running", None, "", "", data,
                                       None, at) for job in jobs])
    return claimed_sorted(jobs)


EVENT_COLUMNS = ("job_id", "kind", "attempt", "from_status", "to_status", "duration_ms", "error_code",
                 "error_message", "data", "cost", "at")


def events_insert_sqlite(cursor, rows: list[tuple]) -> None:
    """Event rows (values prepared for SQLite, in EVENT_COLUMNS order) in one multi-row INSERT."""
    if not rows:
        return
    marks = "(" + ", ".join(["%s"] * len(EVENT_COLUMNS)) + ")"
    cursor.execute(f"INSERT INTO {JobEvent._meta.db_table} ({', '.join(EVENT_COLUMNS)}) VALUES "  # noqa: S608
                   + ", ".join([marks] * len(rows)), [v for row in rows for v in row])


def job_release_unstarted(jobs: list[Job], *, now) -> int:
    """Give claimed jobs that were never started back to the queue, each only if this claim still
    holds it (running, same attempt, the lease this claim set: a compare-and-set): the attempt is
    not counted, the job is due again as it was (its place in the queue kept), and the claim's
    'started' event is taken back. Returns how many went back."""
    if not jobs:
        return 0
    connection = build.db()
    table, event_table = Job._meta.db_table, JobEvent._meta.db_table
    if connection.vendor == "postgresql":
        rows_sql = ", ".join(["(%s::uuid, %s::int, %s::timestamptz)"] * len(jobs))
        params = [v for job in jobs for v in (job.pk, job.attempts, job.lease_expires_at)]
        with connection.cursor() as cursor:
            cursor.execute(f"""
                WITH v(id, attempts, lease) AS (VALUES {rows_sql}),
                released AS (
                    UPDATE {table} j SET status = 'queued', attempts = j.attempts - 1, lease_expires_at = NULL,
                        started_at = CASE WHEN j.attempts = 1 THEN NULL ELSE j.started_at END, updated_at = %s
                    FROM v WHERE j.id = v.id AND j.status = 'running' AND j.attempts = v.attempts
                      AND j.lease_expires_at = v.lease
                    RETURNING j.id, v.attempts
                ), unlogged AS (
                    DELETE FROM {event_table} e USING released r
                    WHERE e.job_id = r.id AND e.attempt = r.attempts AND e.kind = 'started'
                )
                SELECT count(*) FROM released
            """, [*params, now])  # noqa: S608 (our table names; values are parameters)
            return cursor.fetchone()[0]
    ops = connection.ops
    released = 0
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        for job in jobs:
            cursor.execute(
                f"UPDATE {table} SET status = 'queued', attempts = attempts - 1, lease_expires_at = NULL, "  # noqa: S608
                "started_at = CASE WHEN attempts = 1 THEN NULL ELSE started_at END, updated_at = %s "
                "WHERE id = %s AND status = 'running' AND attempts = %s AND lease_expires_at = %s",
                [ops.adapt_datetimefield_value(now), job.pk.hex, job.attempts,
                 ops.adapt_datetimefield_value(job.lease_expires_at)])
            if cursor.rowcount:
                released += 1
                cursor.execute(f"DELETE FROM {event_table} WHERE job_id = %s AND attempt = %s AND kind = 'started'",  # noqa: S608
                               [job.pk.hex, job.attempts])
    return released
