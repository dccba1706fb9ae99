"""What our `manage.py qcluster` (jobs/management/commands/qcluster.py) adds around django-q2's
cluster, in its main process: an orderly stop whoever sends the signal, and the reaper in the
cluster's own loop.

A clean stop when the whole process group is signalled (systemd, a container runtime, Ctrl-C):
django-q2's sentinel and the processes it forks (workers, pusher, monitor) have SIGTERM at its
default action, so a SIGTERM sent to the group killed them at once, mid-job, while the main
process, also signalled, asked the (dead) sentinel to stop through a multiprocessing Event whose
notify waits for its dead sleeper: it hung until SIGKILL. Here every process forked from the main
one blocks SIGTERM and SIGINT (an at-fork hook, so django-q2's own code is untouched): only the main
process takes them, and stops the cluster in django-q2's order (pusher, then the workers after
their task, then the monitor). Workers unblock them again when they start (worker_signals_ordinary):
a worker's SIGTERM waits briefly for the main process's stop flag and is ignored when the whole
cluster is stopping, else it ends the worker (django-q2 terminating a worker past its timeout). A
worker between two jobs of a run token sees the stop flag (shared memory, set by the main process)
and hands the rest back as a new token instead of running on.

The reaper (jobs.execution.job_reap) runs in the main process every JOB_REAPER_INTERVAL_SECONDS,
from the cluster's start: not a django-q2 schedule, which waited for the scheduler's first tick
(~30 s after the start) and then queued behind every run token, and which a broker outage could
lose. Every cluster runs it; it is idempotent (compare-and-set per job), so two at once are fine.
The loop also runs CLUSTER_LOOP_SWEEPS, among them jobs.schedule_ticks.schedule_ticks_resend: a
django-q2 schedule's tick whose queued task was lost with the broker is sent again, once.
"""

import logging
import multiprocessing
import os
import signal
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils.module_loading import import_string

logger = logging.getLogger("levqor.jobs")

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_stop_flag = None  # a multiprocessing.RawValue shared with every forked process, once prepared
_main_pid = None


def stop_flag_prepare() -> None:
    """In the cluster's main process, before it forks: the shared flag the workers read."""
    global _stop_flag, _main_pid
    _stop_flag = multiprocessing.RawValue("b", 0)
    _main_pid = os.getpid()


def stop_request() -> None:
    if _stop_flag is not None:
        _stop_flag.value = 1


def stopping() -> bool:
    """Whether this cluster is stopping: a worker takes no new job (read between jobs)."""
    return _stop_flag is not None and bool(_stop_flag.value)


def _child_after_fork() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


# How long a worker given SIGTERM waits for the main process's stop flag before it takes the signal
# as meant for itself alone (django-q2's sentinel terminating a worker past its timeout).
WORKER_SIGTERM_GRACE_SECONDS = 2.0


def _worker_sigterm(signum, frame) -> None:
    """A worker's SIGTERM: when the whole group was signalled the main process raises the stop flag
    at once, and the worker finishes its job in hand (the orderly stop takes it from there);
    otherwise the signal was for this worker alone and it goes, as django-q2 expects of it."""
    deadline = time.monotonic() + WORKER_SIGTERM_GRACE_SECONDS
    while time.monotonic() < deadline:
        if stopping():
            return
        time.sleep(0.02)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def worker_signals_ordinary() -> None:
    """In a worker process of our cluster (django-q2's post_spawn): SIGTERM and SIGINT unblocked
    again, so django-q2's terminate of a worker past its timeout works, and a program a workflow
    starts inherits an ordinary signal mask (a blocked mask survives exec). SIGTERM goes through
    _worker_sigterm; SIGINT is ignored, as django-q2 has it in its children."""
    if _stop_flag is None:
        return  # not under our qcluster (django-q2's own, a test's in-process worker)
    signal.signal(signal.SIGTERM, _worker_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def children_shield() -> None:
    """Every process forked from here on (django-q2's sentinel, and through it the workers, pusher
    and monitor: the hook is inherited) blocks SIGTERM and SIGINT; django-q2 resetting their
    handlers does not unblock them. The main process alone decides the stop."""
    os.register_at_fork(after_in_child=_child_after_fork)


def serve(cluster, *, run_once: bool = False) -> None:
    """Start django-q2's cluster, run the reaper every JOB_REAPER_INTERVAL_SECONDS until SIGTERM or
    SIGINT (or the sentinel's death), then stop the cluster in order. The signal handler only sets
    flags: the stop runs from this loop, never inside a reaper transaction."""
    stop = threading.Event()

    def on_signal(signum, frame):
        logger.info("qcluster: signal %s, stopping", signal.Signals(signum).name)
        stop_request()
        stop.set()

    stop_flag_prepare()
    children_shield()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    connections.close_all()  # nothing open is shared with the forked processes
    cluster.start()
    if run_once:
        stop.set()
    interval = settings.JOB_REAPER_INTERVAL_SECONDS
    last_runs: dict[str, float] = {}
    while not stop.is_set() and cluster.sentinel.is_alive():
        reap_once()
        sweeps_due_run(last_runs, time.monotonic())
        stop.wait(interval)
    stop_request()
    connections.close_all()
    cluster.stop()


def sweeps_due_run(last_runs: dict[str, float], now: float) -> list[str]:
    """Run each CLUSTER_LOOP_SWEEPS entry whose interval has passed since its last run here (all of
    them on the first pass); a failing one is logged and tried again at its next interval. Returns
    the ones run."""
    ran = []
    for path, seconds in settings.CLUSTER_LOOP_SWEEPS:
        last = last_runs.get(path)
        if last is not None and now - last < seconds:
            continue
        last_runs[path] = now
        ran.append(path)
        try:
            close_old_connections()
            import_string(path)()
        except Exception:
            logger.warning("loop sweep %s failed; it runs again in %s s", path, seconds, exc_info=True)
            connections.close_all()
    return ran


def reap_once() -> dict | None:
    """One reaper pass; a failure (the database away) is logged and the next pass tries again."""
    from jobs.execution import job_reap

    started = time.monotonic()
    try:
        close_old_connections()
        # The heartbeat comes from a worker (jobs.dispatch.heartbeat_enqueue, a loop sweep): beating
        # here would say the cluster's main process is up, not that its workers take tasks.
        report = job_reap(heartbeat=False)
    except Exception:
        logger.warning("reaper pass failed; the next one tries again", exc_info=True)
        connections.close_all()
        return None
    if report.get("requeued") or report.get("failed"):
        logger.info("reaper: %s in %.0f ms", report, (time.monotonic() - started) * 1000)
    return report
