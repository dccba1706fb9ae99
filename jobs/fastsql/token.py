"""The run token's row in django-q2's ORM queue (the embedded broker), written with SQL built
once per process: django-q2's own ORM broker enqueue (OrmQ.objects.create, and the
close_old_connections() it runs outside a transaction) cost more than the rest of an intake.
Its twin is that broker's own enqueue (tests/jobs/test_fastsql_token.py)."""

from django.db import connection
from django.utils import timezone
from django_q.models import OrmQ

from jobs.fastsql import build


def orm_queue_insert(*, list_key: str, payload: str) -> None:
    """Add a task to django-q2's ORM queue as its broker does: the queue's key, the signed
    payload, and the lock time a new task gets (now: due at once)."""
    statement, fields = build.insert_statement(OrmQ, connection.vendor)
    row = OrmQ(key=list_key, payload=payload, lock=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(statement, build.insert_values(row, fields, connection))
