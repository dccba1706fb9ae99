"""Our `manage.py qcluster` (jobs/cluster.py): the reaper in the cluster's own loop, whatever the
queue holds, and an orderly stop when SIGTERM reaches the whole process group (systemd, a container
runtime), as real processes."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.utils import timezone
from django_q.models import Schedule

from jobs import cluster, dispatch
from jobs.apps import REAPER_SCHEDULE_NAME
from jobs.execution import job_run_due
from jobs.models import Job, JobEvent, WorkerHeartbeat
from levqor.schedules import schedules_declared
from tests.jobs.support import job_submit, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def _cluster_start(log) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=worker_env(), cwd=settings.BASE_DIR,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _group_kill(proc: subprocess.Popen) -> None:
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _descendants(pid: int) -> set[int]:
    """Every live process below pid (from /proc: each process's parent)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _sigterm_blocked(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    raise AssertionError("no SigBlk line")


def _wait_for(predicate, *, timeout: float, what: str, log) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    return time.monotonic() - started


def test_manage_py_qcluster_is_ours():
    assert get_commands()["qcluster"] == "jobs"


def test_the_reaper_is_no_longer_a_schedule_and_its_old_row_goes_at_migrate():
    from django.core.management import call_command

    assert REAPER_SCHEDULE_NAME not in schedules_declared()
    Schedule.objects.create(name=REAPER_SCHEDULE_NAME, func="jobs.tasks.job_reap", schedule_type=Schedule.MINUTES,
                            minutes=1, repeats=-1)
    call_command("migrate", "jobs", "0006", verbosity=0)
    call_command("migrate", verbosity=0)
    assert not Schedule.objects.filter(name=REAPER_SCHEDULE_NAME).exists()


def test_a_stopping_cluster_s_worker_takes_no_new_job_and_hands_the_token_back(user, monkeypatch):
    job = job_submit(user)
    sent = []
    monkeypatch.setattr(dispatch, "run_tokens_enqueue", lambda count=1: sent.append(count))
    monkeypatch.setattr(cluster, "_stop_flag", None)
    cluster.stop_flag_prepare()
    cluster.stop_request()
    assert job_run_due() == 0
    assert sent == [1], "a token for what is left"
    assert Job.objects.get(pk=job.pk).status == "queued"
    monkeypatch.setattr(cluster, "_stop_flag", None)
    assert job_run_due() == 1


@pytest.mark.slow
def test_an_orphan_runs_again_within_lease_plus_10_s_while_3000_tokens_wait(user, tmp_path, settings):
    # A job whose worker died: running, its lease just ran out. Before it, 3,000 run tokens in the
    # queue (a backlog's worth): the reaper does not wait behind them, nor for the scheduler.
    job = job_submit(user)
    expired_at = timezone.now() - timedelta(seconds=1)
    Job.objects.filter(pk=job.pk).update(status="running", attempts=1, started_at=expired_at - timedelta(seconds=60),
                                         lease_expires_at=expired_at, worker="dead:1")
    dispatch.run_tokens_push(3000)
    assert dispatch.queue_size() >= 3000
    log = tmp_path / "qcluster.log"
    launched = timezone.now()
    proc = _cluster_start(log)
    try:
        _wait_for(lambda: Job.objects.filter(pk=job.pk, status="succeeded").exists(), timeout=30,
                  what="the orphan to run again", log=log)
    finally:
        _group_kill(proc)
    job.refresh_from_db()
    requeued = JobEvent.objects.get(job=job, kind=JobEvent.Kind.LEASE_EXPIRED)
    started = JobEvent.objects.filter(job=job, kind=JobEvent.Kind.STARTED, attempt=2).get()
    assert job.attempts == 2
    # Counted from when the cluster was up (its first worker's heartbeat): booting Django and
    # forking the workers takes seconds on a loaded machine, and no cluster was running before.
    up = WorkerHeartbeat.objects.filter(beat_at__gte=launched).order_by("beat_at").values_list("beat_at", flat=True)
    since = max(expired_at, up.first() or launched)
    assert (requeued.at - since).total_seconds() <= 10, "reaped within 10 s of the lease's end"
    assert (started.at - since).total_seconds() <= 10, "and running again within 10 s"
    assert dispatch.queue_size() > 1000, "while most of the tokens still waited"


@pytest.mark.slow
def test_sigterm_to_the_whole_process_group_stops_the_cluster_in_order(user, tmp_path):
    log = tmp_path / "qcluster.log"
    proc = _cluster_start(log)
    try:
        warm = job_submit(user)
        _wait_for(lambda: Job.objects.filter(pk=warm.pk, status="succeeded").exists(), timeout=30,
                  what="the cluster to run a first job", log=log)
        # A job in flight (3 s of work) and more due behind it when the stop comes.
        slow = job_submit(user, payload={"delay_ms": 3000})
        _wait_for(lambda: Job.objects.filter(pk=slow.pk, status="running").exists(), timeout=15,
                  what="the slow job to start", log=log)
        behind = [job_submit(user) for _ in range(3)]
        os.killpg(proc.pid, signal.SIGTERM)  # what systemd or a container runtime does
        took = _wait_for(lambda: not _group_alive(proc.pid) or proc.poll() is not None and not _group_alive(proc.pid),
                         timeout=15, what="every process of the group to exit", log=log)
    finally:
        _group_kill(proc)
    assert proc.returncode == 0, log.read_text()[-3000:]
    assert took < 15
    slow.refresh_from_db()
    # The job in flight finished in its worker (not killed mid-run: not left for the reaper), once.
    assert (slow.status, slow.attempts) == ("succeeded", 1)
    assert JobEvent.objects.filter(job=slow, kind=JobEvent.Kind.STARTED).count() == 1
    # What was due behind it either ran, once, or waits queued with a token for it: nothing lost.
    for job in behind:
        job.refresh_from_db()
        assert (job.status, job.attempts) in {("succeeded", 1), ("queued", 0)}
    if Job.objects.filter(pk__in=[j.pk for j in behind], status="queued").exists():
        assert dispatch.queue_size() >= 1


SWEPT: list[str] = []


def probe_sweep() -> None:
    SWEPT.append("probe")


def failing_sweep() -> None:
    raise RuntimeError("the database blinked")


def test_every_loop_sweep_is_a_function_the_cluster_can_call():
    from django.utils.module_loading import import_string

    assert settings.CLUSTER_LOOP_SWEEPS, "the lost-task sweeps are re-checked by the cluster loop"
    for path, seconds in settings.CLUSTER_LOOP_SWEEPS:
        assert callable(import_string(path)) and seconds > 0, path


def test_loop_sweeps_run_on_the_first_pass_then_at_their_own_interval(settings):
    SWEPT.clear()
    settings.CLUSTER_LOOP_SWEEPS = [(f"{__name__}.probe_sweep", 120), (f"{__name__}.failing_sweep", 60)]
    last_runs: dict[str, float] = {}
    assert cluster.sweeps_due_run(last_runs, 1000.0) == [f"{__name__}.probe_sweep", f"{__name__}.failing_sweep"]
    assert SWEPT == ["probe"], "a failing sweep does not stop the others"
    assert cluster.sweeps_due_run(last_runs, 1059.0) == []
    assert cluster.sweeps_due_run(last_runs, 1060.0) == [f"{__name__}.failing_sweep"]
    assert cluster.sweeps_due_run(last_runs, 1120.0) == [f"{__name__}.probe_sweep", f"{__name__}.failing_sweep"]
    assert SWEPT == ["probe", "probe"]


@pytest.mark.slow
def test_workers_keep_ordinary_signals_and_a_worker_terminated_alone_goes(user, tmp_path):
    """Review of issue 14: with SIGTERM blocked in every child, django-q2's terminate of a worker
    past its timeout did nothing (and the stop then hung on it), and programs a workflow starts
    inherited the blocked mask. Workers unblock it: SIGTERM to one worker alone (the cluster not
    stopping) ends it, and the cluster carries on with a new one."""
    log = tmp_path / "qcluster.log"
    proc = _cluster_start(log)
    try:
        warm = job_submit(user)
        _wait_for(lambda: Job.objects.filter(pk=warm.pk, status="succeeded").exists(), timeout=30,
                  what="the cluster to run a first job", log=log)
        family = _descendants(proc.pid)
        workers = {pid for pid in family if not _sigterm_blocked(pid)}
        assert len(workers) == settings.Q_CLUSTER["workers"], "the workers, and only they, unblocked"
        assert family - workers, "the sentinel, pusher and monitor keep it blocked"
        # A worker busy with a job past its time (django-q2 terminates one only while it runs a task:
        # a worker killed while it waits holds the task queue's lock, as any process would).
        stuck = job_submit(user, payload={"delay_ms": 20000})
        _wait_for(lambda: Job.objects.filter(pk=stuck.pk, status="running").exists(), timeout=15,
                  what="the long job to start", log=log)
        victim = int(Job.objects.get(pk=stuck.pk).worker.rsplit(":", 1)[1])
        assert victim in workers
        os.kill(victim, signal.SIGTERM)  # what django-q2's sentinel does to a worker past its timeout
        _wait_for(lambda: not _alive(victim), timeout=10, what="the terminated worker to go", log=log)
        after = job_submit(user)
        _wait_for(lambda: Job.objects.filter(pk=after.pk, status="succeeded").exists(), timeout=30,
                  what="the cluster to run a job after losing a worker", log=log)
    finally:
        _group_kill(proc)
