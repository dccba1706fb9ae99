"""Handing a task to django-q2's workers, now or at a later time, for every app (jobs, the
webhook engine, alert routing): one copy of the ONCE-schedule and the log-never-raise wrapper.

A task at a later time is a django-q2 ONCE Schedule: it survives a restart of the cluster, which
an in-memory delay would not. Callers keep their own table as the truth ("this is due at T") and
a recurring sweep that hands over what a lost task left behind, so a failed hand-over is logged,
never raised."""

import functools
import logging
import threading
from datetime import datetime

from django_q.models import Schedule
from django_q.tasks import async_task

logger = logging.getLogger("levqor.tasks")
_local = threading.local()


def broker_reset() -> None:
    """Forget this thread's broker (after a failure: connect afresh next time)."""
    _local.broker = None


def _broker():
    # One broker per thread, reused: a new Redis client per enqueue halves throughput.
    broker = getattr(_local, "broker", None)
    if broker is None:
        from django_q.brokers import get_broker

        broker = _local.broker = get_broker()
    return broker


def handed_over(what: str, *, on_failure=None):
    """Decorate a hand-over run after a commit: if the broker (or the schedule table) fails, the
    work is not lost, as the caller's table still says it is due and its sweep hands it over
    again, so log, never raise. Raising would turn an accepted request into a 500."""
    def wrap(func):
        @functools.wraps(func)
        def handed(*args, **kwargs):
            try:
                func(*args, **kwargs)
            except Exception:
                broker_reset()
                if on_failure is not None:
                    on_failure()
                logger.warning("could not hand %s to django-q2; it stays due and is handed over again", what,
                               exc_info=True)
        return handed
    return wrap


def task_push(func: str, *args: str | int, when: datetime | None = None, broker=None) -> None:
    """Hand the task `func(*args)` to the workers now, or at `when` through django-q2's scheduler
    (a ONCE schedule). Raises if the broker does."""
    if when is None:
        async_task(func, *args, broker=broker or _broker())
    else:
        # args is parsed with ast.literal_eval by the scheduler: a tuple of literals.
        Schedule.objects.create(func=func, args=repr(tuple(args)), schedule_type=Schedule.ONCE, next_run=when,
                                repeats=-1)


@handed_over("a task")
def task_enqueue(func: str, *args: str | int, when: datetime | None = None) -> None:
    """task_push for an on_commit hook: a broker failure is logged, never raised."""
    task_push(func, *args, when=when)
