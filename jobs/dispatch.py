"""Hand work to django-q2. A task carries no job: it tells a worker "run the best due job",
so priority is decided at claim time from our table, and a lost task loses nothing."""

import logging
import random
import threading
from datetime import datetime

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task

from jobs.orm_broker import OrmBroker
from levqor.tasks_queue import handed_over, task_enqueue  # noqa: F401  (jobs.dispatch.task_enqueue is used)
from levqor.tasks_queue import task_push as _task_push

RUN_NEXT = "jobs.tasks.job_run_next"

_local = threading.local()
logger = logging.getLogger("levqor.jobs")


# django-q2's ORM broker with the token row in SQL built once and a wake-up for the pusher
# (jobs.orm_broker); also Q_CLUSTER broker_class in the embedded setup.
_OrmBroker = OrmBroker


def _broker():
    # One broker per thread, reused: a new Redis client per enqueue halves intake throughput.
    broker = getattr(_local, "broker", None)
    if broker is None:
        broker = _local.broker = _OrmBroker(list_key=Conf.CLUSTER_NAME) if _orm_broker_here() else get_broker()
    return broker


def _orm_broker_here() -> bool:
    """django-q2's queue is a table in our own database (the embedded default)."""
    return Conf.ORM == DEFAULT_DB_ALIAS


def backoff_seconds(attempt: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with equal jitter: between half and all of base * 2^(attempt-1), capped."""
    base = settings.JOB_RETRY_BASE_SECONDS if base is None else base
    cap = settings.JOB_RETRY_MAX_SECONDS if cap is None else cap
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def _broker_forget() -> None:
    _local.broker = None


def _handed_over(what: str):
    """levqor.tasks_queue.handed_over that also drops this module's broker after a failure."""
    return handed_over(what, on_failure=_broker_forget)


def run_tokens_push(count: int = 1) -> None:
    broker = _broker()
    for _ in range(count):
        async_task(RUN_NEXT, broker=broker)


@_handed_over("run tokens")
def run_tokens_enqueue(count: int = 1) -> None:
    run_tokens_push(count)


def tokens_enough() -> int:
    """Run tokens waiting in the queue beyond which another adds nothing: one per worker process,
    as each token runs due jobs until none is left (jobs.execution.job_run_due)."""
    return settings.Q_CLUSTER["workers"]


def run_token_with_commit() -> None:
    """Hand a job queued in the current transaction to the workers. With django-q2's ORM broker
    on our own database the token row is written inside that transaction: one commit instead of
    two, and no moment in which the job is stored without its token. With another broker it is
    sent once the transaction commits (if that fails, the reaper sends one).

    Every job gets its token, even while tokens wait: the queue also holds other tasks
    (callbacks, schedules), so a count of waiting tasks cannot prove a run token among them."""
    if isinstance(_broker(), _OrmBroker) and connection.in_atomic_block:
        run_tokens_push()  # a failure rolls the job back with it: the client sees an error, nothing is lost
    else:
        transaction.on_commit(run_tokens_enqueue)


@_handed_over("a retry's run token")
def run_token_at(when: datetime) -> None:
    """A run token at a later time (retry backoff), through django-q2's scheduler."""
    Schedule.objects.create(func=RUN_NEXT, schedule_type=Schedule.ONCE, next_run=when, repeats=-1)


def task_push(func: str, *args: str | int, when: datetime | None = None) -> None:
    """levqor.tasks_queue.task_push with jobs' broker (the ORM fast path on the embedded setup)."""
    _task_push(func, *args, when=when, broker=_broker() if when is None else None)


def queue_size() -> int:
    try:
        return _broker().queue_size() or 0
    except Exception:
        return 0


def heartbeat_enqueue() -> None:
    """A cluster loop sweep (CLUSTER_LOOP_SWEEPS): the worker heartbeat as a task through the
    broker, so readiness and the uptime minutes say that workers take tasks, not merely that a
    cluster's main process is up. Lost with the broker, the next one comes at the next interval."""
    task_enqueue("jobs.tasks.worker_heartbeat")
