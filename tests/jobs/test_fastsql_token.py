"""jobs.fastsql.token against its twin, django-q2's own ORM broker: a run token's queue row is the
same row the broker would write (what the cluster reads back and runs), on SQLite and PostgreSQL."""

import pytest
from django_q.brokers.orm import ORM
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from jobs.dispatch import RUN_NEXT
from jobs.fastsql.token import orm_queue_insert
from tests.twins import freeze_now, rows, run_and_undo

pytestmark = pytest.mark.django_db


def _snapshot():
    return rows(OrmQ, exclude=("id",), order_by=("key", "lock"))


@pytest.fixture
def queued():
    """A task already waiting under another queue key, which neither write may touch."""
    OrmQ.objects.create(key="other-cluster", payload="kept", lock=None)


@pytest.mark.parametrize("list_key", ["levqor", "a-cluster-with-another-name"])
def test_a_run_token_is_the_row_django_q2s_orm_broker_writes(monkeypatch, queued, list_key):
    freeze_now(monkeypatch)
    task = SignedPackage.dumps({"id": "token-1", "name": "token-1", "func": RUN_NEXT, "args": (), "kwargs": {}})
    fast = run_and_undo(lambda: orm_queue_insert(list_key=list_key, payload=task), _snapshot)
    twin = run_and_undo(lambda: ORM(list_key=list_key).enqueue(task), _snapshot)
    assert fast[1] == twin[1]
    [written] = [row for row in fast[1] if row["key"] == list_key]
    assert SignedPackage.loads(written["payload"])["func"] == RUN_NEXT  # what the cluster reads back


def test_the_dequeued_token_reads_back_as_it_was_enqueued(monkeypatch):
    task = SignedPackage.dumps({"id": "token-2", "name": "token-2", "func": RUN_NEXT, "args": (), "kwargs": {}})
    orm_queue_insert(list_key="levqor", payload=task)
    [(_, payload)] = ORM(list_key="levqor").dequeue()
    assert SignedPackage.loads(payload)["id"] == "token-2"
