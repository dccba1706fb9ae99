"""Schedule ticks whose queued task was lost (Redis restarted or flushed) are sent again.

django-q2's scheduler advances a Schedule's `next_run`, enqueues the tick's task and stores its id
in `Schedule.task`. If that queued message is lost, the tick never runs (a daily one waits a day).
Here:

- a worker's django-q2 `pre_execute` receiver (`tick_start_record`) writes a ScheduleTickStart row
  for every task carrying a group (every scheduler task does; run tokens do not), in its own
  autocommit: independent of the scheduler's transaction and of the broker;
- the cluster loop (`schedule_ticks_resend`, a CLUSTER_LOOP_SWEEPS entry) notes each Schedule's
  latest task id when it first sees it (ScheduleTick), and once that tick has been seen for
  SCHEDULE_TICK_LOST_AFTER_SECONDS without a start and the broker's queue is empty (nothing can
  still be waiting in front of it), sends the tick again once: the row's state moves to "resent" by
  compare-and-set in the same transaction as the send, so two clusters never both send it and a
  failed send leaves the tick to the next pass.
"""

import ast
import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task

from jobs.dispatch import RUN_NEXT, queue_size
from jobs.models import ScheduleTick, ScheduleTickStart

logger = logging.getLogger("levqor.jobs")

START_RETENTION = timedelta(days=1)


def tick_start_record(sender=None, func=None, task=None, **kwargs) -> None:
    """django-q2 `pre_execute` receiver (in the worker, before the task runs)."""
    if not task or not task.get("group") or task.get("func") == RUN_NEXT:
        return
    task_id = task.get("id")
    if not task_id:
        return
    try:
        ScheduleTickStart.objects.bulk_create(
            [ScheduleTickStart(task_id=task_id, started_at=timezone.now())], ignore_conflicts=True
        )
    except Exception:
        # never stop the task for this; the worst case is one extra run of this tick
        logger.warning("could not record the start of task %s", task_id, exc_info=True)


def _schedules_here():
    """The Schedules this cluster's scheduler handles (as django_q.scheduler selects them)."""
    if Conf.CLUSTER_NAME == Conf.PREFIX:
        mine = Schedule.objects.filter(cluster__isnull=True) | Schedule.objects.filter(cluster=Conf.CLUSTER_NAME)
    else:
        mine = Schedule.objects.filter(cluster=Conf.CLUSTER_NAME)
    # A tick's intended date (intended_date_kwarg) is not known once next_run moved on: those are
    # not sent again (none of ours uses it). Retry run tokens are the reaper's.
    return mine.exclude(func=RUN_NEXT).filter(Q(intended_date_kwarg__isnull=True) | Q(intended_date_kwarg=""))


def _arguments(s: Schedule) -> tuple[tuple, dict]:
    """A Schedule's args and kwargs, parsed as django_q.scheduler parses them."""
    args, kwargs = (), {}
    if s.kwargs:
        try:
            kwargs = ast.literal_eval(s.kwargs)
        except (SyntaxError, ValueError):
            try:
                parsed = ast.parse(f"f({s.kwargs})").body[0].value.keywords
                kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in parsed}
            except (SyntaxError, ValueError):
                kwargs = {}
    if s.args:
        args = ast.literal_eval(s.args)
        if type(args) is not tuple:
            args = (args,)
    return args, kwargs


def _tick_send(s: Schedule) -> str:
    args, kwargs = _arguments(s)
    q_options = dict(kwargs.get("q_options", {}))
    if s.hook:
        q_options["hook"] = s.hook
    q_options["broker"] = get_broker()
    q_options["group"] = q_options.get("group", s.name or s.id)
    kwargs["q_options"] = q_options
    return async_task(s.func, *args, **kwargs)


def schedule_ticks_resend() -> dict:
    """One pass of the cluster loop; returns counts (watching: new ticks noted, resent, deferred,
    failed)."""
    now = timezone.now()
    lost_after = timedelta(seconds=settings.SCHEDULE_TICK_LOST_AFTER_SECONDS)
    report = {"watching": 0, "resent": 0, "deferred": 0, "failed": 0}
    ScheduleTickStart.objects.filter(started_at__lt=now - max(START_RETENTION, 10 * lost_after)).delete()
    ScheduleTick.objects.exclude(schedule_id__in=Schedule.objects.values("pk")).delete()
    schedules = list(_schedules_here())
    ticks = {t.schedule_id: t for t in ScheduleTick.objects.filter(schedule_id__in=[s.pk for s in schedules])}
    for s in schedules:
        task = s.task or ""
        tick = ticks.get(s.pk)
        if tick is None:
            # first sight: a new Schedule (usually before its first tick, task empty), or every
            # Schedule once after this was deployed. The task it holds now is not judged.
            try:
                with transaction.atomic():
                    ScheduleTick.objects.create(
                        schedule_id=s.pk, task_id=task, seen_at=now, state=ScheduleTick.State.BASELINE
                    )
            except IntegrityError:
                pass  # another cluster noted it first
            continue
        if tick.task_id != task:
            # the scheduler made a new tick: watch it from now (compare-and-set on the id we saw)
            report["watching"] += ScheduleTick.objects.filter(schedule_id=s.pk, task_id=tick.task_id).update(
                task_id=task, seen_at=now, state=ScheduleTick.State.WATCHING, resent_at=None, resent_task_id=""
            )
            continue
        if not task or tick.state != ScheduleTick.State.WATCHING or now - tick.seen_at < lost_after:
            continue
        try:
            outcome = _tick_judge(s, tick, now)
        except Exception:
            logger.warning("schedule %s: could not send its lost tick again; next pass", s.name or s.pk, exc_info=True)
            outcome = "failed"
        if outcome:
            report[outcome] += 1
    return report


def _tick_judge(s: Schedule, tick: ScheduleTick, now) -> str | None:
    """A watched tick past SCHEDULE_TICK_LOST_AFTER_SECONDS: started, waiting, or lost (sent again)."""
    if ScheduleTickStart.objects.filter(task_id=s.task).exists():
        ScheduleTick.objects.filter(schedule_id=s.pk, task_id=s.task, state=ScheduleTick.State.WATCHING).update(
            state=ScheduleTick.State.STARTED
        )
        return None
    if queue_size() > 0:
        return "deferred"  # it may still be waiting behind what is queued
    with transaction.atomic():
        won = ScheduleTick.objects.filter(
            schedule_id=s.pk, task_id=s.task, state=ScheduleTick.State.WATCHING
        ).update(state=ScheduleTick.State.RESENT, resent_at=now)
        if not won:
            return None  # another cluster sent it (or saw it start)
        new_task = _tick_send(s)
        if not new_task:
            raise RuntimeError("async_task returned no task id")  # rolls the compare-and-set back
        ScheduleTick.objects.filter(schedule_id=s.pk).update(resent_task_id=new_task)
    logger.warning(
        "schedule %s: its task %s had not started %.0f s after the cluster loop first saw it and the queue "
        "is empty (lost with the broker?); sent again as %s",
        s.name or s.pk, s.task, (now - tick.seen_at).total_seconds(), new_task,
    )
    return "resent"
