"""A worker that loses its database while a job runs (`make chaos`: its host's link cut for 60 s).
Its cancel poll used to block until TCP gave up or the link came back (~100 s after a 60 s cut),
and the handler then carried on past its lease, while the reaper could already have handed the
job to another worker: two runs at once. Now the poll's error stops the run as a transient
failure (retried), a poll that returns past the deadline stops it as a timeout, and a PostgreSQL
connection that stops answering fails within seconds (connect_timeout, tcp_user_timeout)."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import InterfaceError, OperationalError

from jobs import execution
from jobs.execution import job_run_next
from jobs.workflows import JobContext, TransientJobError, Workflow
from tests.jobs.support import job_submit, workflow_registered

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("error", [OperationalError("server closed the connection unexpectedly"),
                                   InterfaceError("connection already closed")], ids=["operational", "interface"])
def test_a_cancel_poll_that_loses_the_database_stops_the_run_as_transient(error):
    def poll():
        raise error

    ctx = JobContext(job_id="j", attempt=1, livemode=True, timeout_seconds=30, cancel_requested=poll)
    with pytest.raises(TransientJobError) as caught:
        ctx.checkpoint()
    assert caught.value.code == "database_unreachable" and caught.value.retryable


def test_a_cancel_poll_that_returns_past_the_deadline_stops_the_run():
    now = [0.0]

    def slow_poll():  # the connection hung, then answered
        now[0] += 45
        return False

    ctx = JobContext(job_id="j", attempt=1, livemode=True, timeout_seconds=30, cancel_requested=slow_poll,
                     clock=lambda: now[0])
    with pytest.raises(TransientJobError) as caught:
        ctx.checkpoint()
    assert caught.value.code == "timeout"


@pytest.mark.django_db
def test_a_job_whose_worker_lost_the_database_goes_back_to_the_queue(user, monkeypatch):
    ran_on = []

    def work(ctx, payload):
        ran_on.append(1)
        ctx.sleep(1)  # polls for a cancel after 0.25 s
        ran_on.append(2)  # never reached: the run stopped at the lost poll
        return {}

    def poll(job_id):
        raise OperationalError("consuming input failed: server closed the connection unexpectedly")

    workflow = Workflow(name="test.dblost", description="test", payload_schema={"type": "object"}, handler=work,
                        estimate_cost=lambda payload: Decimal("0.001"), timeout_seconds=5, max_attempts=3)
    with workflow_registered(workflow):
        job = job_submit(user, "test.dblost")
        monkeypatch.setattr(execution, "_cancel_requested", poll)
        job_run_next()
    job.refresh_from_db()
    assert ran_on == [1]
    assert (job.status, job.attempts, job.error_code) == ("queued", 1, "database_unreachable")


def test_postgresql_connections_fail_within_seconds_when_the_server_stops_answering(tmp_path):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LEVQOR_VAR_DIR": str(tmp_path),
           "DATABASE_URL": "postgres://postgres@10.0.0.1:5432/levqor", "SECRET_KEY": "x" * 60}
    script = ("import json, django; django.setup(); from django.conf import settings; "
              "print(json.dumps(settings.DATABASES['default']['OPTIONS']))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,  # noqa: S603
                         env={**env, "DJANGO_SETTINGS_MODULE": "levqor.settings"}, check=True).stdout
    options = json.loads(out.strip().splitlines()[-1])
    assert options["connect_timeout"] == 5 and options["tcp_user_timeout"] == 10000
    # Well inside a run's lease (its timeout + 30 s grace): a poll that hangs cannot outlive it.
    assert options["tcp_user_timeout"] / 1000 < 30


@pytest.mark.django_db(transaction=True)
def test_a_worker_whose_connection_is_killed_mid_run_records_the_retry_at_once(user):
    """Review of issue 14: the poll's error became a retry, but the finish then ran on the same dead
    connection and failed too, so the job waited out its whole lease. The dead connection is closed:
    the retry is recorded on a new one, at once."""
    import psycopg
    from django.db import connection

    from jobs.models import Job

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: a backend to terminate")

    def work(ctx, payload):
        settings_dict = connection.settings_dict
        with psycopg.connect(host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432,
                             user=settings_dict["USER"], dbname=settings_dict["NAME"], autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        ctx.sleep(1)
        return {}

    flow = Workflow(name="test.connection_killed", description="t", payload_schema={"type": "object"}, handler=work,
                    estimate_cost=lambda payload: Decimal("0.001"), timeout_seconds=5, max_attempts=3)
    with workflow_registered(flow):
        job = job_submit(user, "test.connection_killed")
        job_run_next()
    connection.close()
    job = Job.objects.get(pk=job.pk)
    assert (job.status, job.attempts, job.error_code) == ("queued", 1, "database_unreachable")
