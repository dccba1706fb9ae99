"""Workers as real processes and threads: a worker killed mid-job loses nothing, concurrent
workers never run one job twice, and a real django-q2 cluster (ORM broker, or Redis with
REDIS_URL) runs what the API accepted."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
import standardwebhooks
from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django_q.brokers import get_broker

from jobs.execution import job_reap, job_run_next
from jobs.models import Job, JobEvent, WorkerHeartbeat
from levqor.webhooks.delivery import signing_secret_for
from tests.conftest import post_json
from tests.factories import JobFactory
from tests.jobs.support import event_kinds, job_lease_expire, job_submit, worker_env
from tests.processes import process_stop

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(predicate, *, timeout: float, what: str, proc: subprocess.Popen | None = None, log=None):
    """Poll until predicate() is true; fail with the process's log if it died or time ran out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the worker process exited ({proc.returncode}) before {what}:\n{_log(log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{_log(log)}")
        time.sleep(0.02)


def _log(path) -> str:
    return path.read_text()[-3000:] if path is not None and path.exists() else ""


# --- a worker killed mid-job ------------------------------------------------------------------

WORKER_SCRIPT = """
import django
django.setup()
from jobs.execution import job_run_next
job_run_next()
"""


@pytest.mark.slow
def test_a_job_whose_worker_is_killed_runs_again_exactly_once(user, fake_server, tmp_path):
    # http.request against the fake server: each execution is a request we can count, and the
    # first one is held open so the worker is killed while it is in the middle of the job.
    arrived, release = threading.Event(), threading.Event()

    def held(request):
        arrived.set()
        release.wait(20)
        return {"late": True}

    fake_server.responses = [(200, held), (200, {"ok": True})]
    job = job_submit(user, "http.request", {"url": fake_server.url + "/work"})
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT],  # noqa: S603 (our own script)
                                env=worker_env(), cwd=settings.BASE_DIR, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(arrived.is_set, timeout=30, what="the job's request", proc=proc, log=log)
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("running", 1)
        assert job.worker.endswith(f":{proc.pid}")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    job.refresh_from_db()
    assert job.status == "running", "nobody can know yet that the worker died"
    assert job_reap()["requeued"] == 0, "the lease has not run out yet"
    job_lease_expire(job)
    assert job_reap()["requeued"] == 1
    job.refresh_from_db()
    assert (job.status, job.error_code) == ("queued", "lease_expired")

    assert job_run_next().pk == job.pk
    job.refresh_from_db()
    assert (job.status, job.attempts, job.result["status"]) == ("succeeded", 2, 200)
    assert event_kinds(job) == ["created", "started", "lease_expired", "started", "succeeded"]
    # Executed exactly once more, and both executions carried the job id for the far end to dedupe.
    assert len(fake_server.requests) == 2
    assert {r["headers"]["X-Levqor-Job-Id"] for r in fake_server.requests} == {str(job.pk)}


# --- concurrent workers -------------------------------------------------------------------------

def _run_concurrently(user, *, workers: int, jobs: int):
    created = Job.objects.bulk_create([
        JobFactory.build(owner=user, payload={"n": i}, priority=i % 3, estimated_cost=Decimal("0.001"))
        for i in range(jobs)])
    claimed: dict[int, list] = {n: [] for n in range(workers)}
    errors = []
    barrier = threading.Barrier(workers)

    def worker(n):
        try:
            barrier.wait()
            while (job := job_run_next(worker=f"worker-{n}")) is not None:
                claimed[n].append(job.pk)
        except Exception as exc:  # reported below, with the others
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    every_claim = [pk for pks in claimed.values() for pk in pks]
    assert Counter(every_claim).most_common(1)[0][1] == 1, "a job was handed to two workers"
    assert set(every_claim) == {job.pk for job in created}, "a job was lost"
    started = dict(JobEvent.objects.filter(kind="started").values_list("job").annotate(n=Count("id")))
    assert len(started) == jobs and set(started.values()) == {1}
    assert Job.objects.filter(status="succeeded", attempts=1).count() == jobs
    return claimed


@pytest.mark.postgres
def test_many_workers_never_run_one_job_twice(user):
    claimed = _run_concurrently(user, workers=8, jobs=200)
    assert sum(1 for pks in claimed.values() if pks) > 1, "the workers did not actually overlap"


def test_concurrent_claims_hand_each_job_to_one_worker_on_any_database(user):
    """The same guarantee on whichever database runs the suite: SQLite's IMMEDIATE transactions
    serialise the claim where PostgreSQL skips locked rows."""
    _run_concurrently(user, workers=4, jobs=40)


# --- a real cluster ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_cluster_runs_what_the_api_accepted_and_calls_back(api, fake_server, tmp_path):
    # The broker under test is the configured one: Redis with REDIS_URL (CI), else the ORM.
    # (The embedded mode's is django-q2's ORM broker with a wake-up: jobs.orm_broker.OrmBroker.)
    assert type(get_broker()).__name__ == ("Redis" if settings.REDIS_URL else "OrmBroker")
    started_at = timezone.now()
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=worker_env(), cwd=settings.BASE_DIR,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ids = []
        for i, priority in enumerate(["low", "normal", "high"]):
            body = {"workflow": "demo.flow", "payload": {"n": i}, "priority": priority}
            if i == 0:
                body["callback_url"] = fake_server.url + "/levqor-hook"
            response = post_json(api, "/api/v1/jobs", body)
            assert response.status_code == 201, response.content
            ids.append(response.json()["id"])

        jobs = Job.objects.filter(pk__in=ids)
        _wait_for(lambda: jobs.filter(status="succeeded").count() == 3, timeout=30, what="the jobs to succeed",
                  proc=cluster, log=log)
        _wait_for(lambda: jobs.filter(callback_status="delivered").count() == 1, timeout=15,
                  what="the callback", proc=cluster, log=log)
        _wait_for(lambda: WorkerHeartbeat.objects.filter(beat_at__gte=started_at).exists(), timeout=10,
                  what="a worker heartbeat", proc=cluster, log=log)
    finally:
        process_stop(cluster)

    for job_id in ids:
        status = api.get(f"/api/v1/jobs/{job_id}").json()
        assert (status["status"], status["attempts"]) == ("succeeded", 1)
        assert status["result"]["echo"]["n"] == ids.index(job_id)
    [callback] = fake_server.requests
    # Verified as a receiver would, with the Standard Webhooks package (raises if it does not verify).
    standardwebhooks.Webhook(signing_secret_for(owner=api.user).secret).verify(callback["body"], callback["headers"])
    assert json.loads(callback["body"])["data"]["id"] == ids[0]
    # Each job ran in a cluster worker process, not in this one.
    workers = set(Job.objects.filter(pk__in=ids).values_list("worker", flat=True))
    assert all(not name.endswith(f":{os.getpid()}") for name in workers)
