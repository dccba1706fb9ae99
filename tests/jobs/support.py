"""Helpers for the execution, worker, callback and workflow tests: submit jobs the way intake
does, move time in the database, run what django-q2 queued in this process, and build the
environment a worker subprocess needs to reach the test database and queue."""

import os
import pydoc
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signing import SignedPackage

from jobs.intake import PRIORITIES, IntakeRequest
from jobs.models import Job
from jobs.services import job_create
from jobs.workflows import Workflow, workflow_get, workflow_register, workflow_unregister
from levqor import crypto


def job_submit(owner, workflow: str = "demo.flow", payload: dict | None = None, *, priority: str = "normal",
               callback_url: str = "") -> Job:
    """A job accepted through the intake service (cost reserved, 'created' event logged)."""
    request = IntakeRequest(workflow=workflow_get(workflow), payload=payload or {}, callback_url=callback_url,
                            priority=PRIORITIES[priority])
    job, _ = job_create(owner=owner, api_key=None, livemode=True, request=request)
    return job


def job_make_due(job: Job) -> None:
    """Let the backoff pass: the job's next attempt is due now."""
    Job.objects.filter(pk=job.pk).update(next_attempt_at=timezone.now() - timedelta(milliseconds=1))


def job_lease_expire(job: Job) -> None:
    """Let the lease of the attempt that holds the job run out, as if its worker went silent."""
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def event_kinds(job: Job) -> list[str]:
    return list(job.events.order_by("at", "id").values_list("kind", flat=True))


@contextmanager
def workflow_registered(workflow: Workflow):
    """A test workflow in the registry for the duration of a test, removed afterwards."""
    workflow_register(workflow)
    try:
        yield workflow
    finally:
        workflow_unregister(workflow.name)


# Daily schedules that do the whole product's work end to end (the integrity check submits a job and
# waits up to a minute for a worker; the reports render PDFs and email them): their own tests run
# them; firing "every schedule" for a test about something else leaves them to their next tick.
END_TO_END_SCHEDULES = ("intelligence.integrity_check", "intelligence.weekly_report_email",
                        "intelligence.ops_summary_email")


def schedules_fire() -> None:
    """Run django-q2's scheduler once, with every pending schedule due (but END_TO_END_SCHEDULES), as
    the cluster's guard does."""
    (Schedule.objects.exclude(repeats=0).exclude(name__in=END_TO_END_SCHEDULES)
     .update(next_run=timezone.now() - timedelta(seconds=1)))
    scheduler(broker=get_broker())


def tasks_drain(*, limit: int = 100) -> list[tuple[str, tuple, object]]:
    """Run what is queued for this test run's cluster, in this process, the way a django-q2
    worker does (unpack the signed task, locate the function, call it). Returns (func, args, result)."""
    broker = get_broker()
    ran = []
    while len(ran) < limit and broker.queue_size():
        for ack_id, pack in broker.dequeue() or []:
            task = SignedPackage.loads(pack)
            func = task["func"] if callable(task["func"]) else pydoc.locate(task["func"])
            result = func(*task["args"], **task["kwargs"])
            broker.acknowledge(ack_id)
            ran.append((task["func"], tuple(task["args"]), result))
    return ran


def worker_env() -> dict[str, str]:
    """Environment for a worker subprocess: the test settings, this run's queue name, and the
    test database (its real NAME, which the test settings alone would not give)."""
    db = settings.DATABASES["default"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "levqor.settings_test",
           "LEVQOR_TEST_RUN": settings.Q_CLUSTER["name"].removeprefix("levqor-test-"),
           "PYTHONPATH": str(settings.BASE_DIR), "PYTHONUNBUFFERED": "1",
           # The same key signs and checks django-q2's task packages, and production checks want it set.
           "SECRET_KEY": settings.SECRET_KEY,
           # The keys this process encrypts secrets with (derived from SECRET_KEY here), so the worker
           # reads the signing secrets the test stored, and passes the production check that wants keys.
           "FIELD_ENCRYPTION_KEYS": ",".join(crypto._keys())}
    env.pop("Q_CLUSTER_NAME", None)  # would move the cluster to another queue
    if db["ENGINE"].endswith("sqlite3"):
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        auth = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return env
