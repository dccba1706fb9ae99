"""A task that schedules run in the schedule tests: each run writes a row (which schedule, which
tick, which process group), so the tests count runs per tick in the database, whichever process
ran them. Its table is made and dropped by the tests (it belongs to no app)."""

import os

from django.db import connection

PROBE_TABLE = "test_schedule_probe_run"


def probe_table_create() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} "
                       "(schedule VARCHAR(100) NOT NULL, tick VARCHAR(64) NOT NULL, pgid INTEGER NOT NULL)")


def probe_table_drop() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PROBE_TABLE}")


def probe_run(*, schedule: str = "", tick: str = "") -> None:
    """Scheduled with intended_date_kwarg="tick": the tick is the next_run it was due at."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {PROBE_TABLE} (schedule, tick, pgid) VALUES (%s, %s, %s)",  # noqa: S608
                       [schedule, tick, os.getpgid(0)])


def probe_runs() -> list[tuple[str, str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT schedule, tick, pgid FROM {PROBE_TABLE}")  # noqa: S608
        return [tuple(row) for row in cursor.fetchall()]
