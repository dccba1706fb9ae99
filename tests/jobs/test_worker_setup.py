"""What a django-q2 worker process does when it starts."""

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from jobs.apps import _worker_connection_tune, _worker_process_setup
from jobs.models import WorkerHeartbeat

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_setup():
    _worker_process_setup(sender="django_q", proc_name="test")
    yield
    connection_created.disconnect(dispatch_uid="jobs-worker-connection")
    if connection.vendor == "postgresql":
        _synchronous_commit_on()


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def _synchronous_commit_on() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")


def test_a_starting_worker_beats_its_heartbeat(worker_setup):
    assert WorkerHeartbeat.objects.exists()


@pytest.mark.postgres
def test_worker_connections_commit_without_waiting_for_the_flush(worker_setup, settings):
    assert _synchronous_commit() == "off"
    # and a connection the worker opens later is tuned the same way
    _synchronous_commit_on()
    _worker_connection_tune(None, connection)
    assert _synchronous_commit() == "off"


@pytest.mark.postgres
def test_async_commit_can_be_turned_off(settings):
    settings.WORKER_ASYNC_COMMIT = False
    _synchronous_commit_on()
    _worker_connection_tune(None, connection)
    assert _synchronous_commit() == "on"
