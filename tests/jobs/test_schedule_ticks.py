"""A django-q2 Schedule's tick whose queued task was lost with the broker (Redis restarted or
flushed) is sent again by the cluster loop, once (jobs/schedule_ticks.py); a tick that started, or
that may still wait behind a queue, is not; retry run tokens are the reaper's."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.signals import pre_execute
from django_q.signing import SignedPackage

from jobs import schedule_ticks
from jobs.dispatch import RUN_NEXT, run_token_at
from jobs.models import ScheduleTick, ScheduleTickStart
from jobs.schedule_ticks import schedule_ticks_resend

pytestmark = pytest.mark.django_db(transaction=True)  # django-q2's scheduler closes a test transaction's connection

FUNC = "tests.intelligence.schedule_probe.probe_run"


def queued() -> list[dict]:
    """Take every task off this run's queue (as a worker would, without running them)."""
    broker = get_broker()
    tasks = []
    while broker.queue_size():
        for ack_id, pack in broker.dequeue() or []:
            tasks.append(SignedPackage.loads(pack))
            broker.acknowledge(ack_id)
    return tasks


@pytest.fixture
def daily():
    """A daily schedule, seen once by the cluster loop before its first tick, then ticked by
    django-q2's scheduler (the public way); the queue is then empty but for its task."""
    Schedule.objects.all().delete()  # only this one ticks (the declared ones come back with the flush)
    get_broker().purge_queue()
    s = Schedule.objects.create(name="test.ticks.daily", func=FUNC, kwargs="{'schedule': 'daily'}",
                                hook="tests.jobs.test_schedule_ticks.hook_probe", schedule_type=Schedule.DAILY,
                                next_run=timezone.now() + timedelta(hours=1), repeats=-1)
    schedule_ticks_resend()  # first sight: no task yet
    assert ScheduleTick.objects.get(schedule_id=s.pk).state == ScheduleTick.State.BASELINE
    Schedule.objects.filter(pk=s.pk).update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler(broker=get_broker())
    s.refresh_from_db()
    assert s.task and s.next_run > timezone.now()
    schedule_ticks_resend()  # the loop notes the new tick
    tick = ScheduleTick.objects.get(schedule_id=s.pk)
    assert (tick.task_id, tick.state) == (s.task, ScheduleTick.State.WATCHING)
    return s


def hook_probe(task) -> None:
    pass


def age(s: Schedule, seconds: float) -> None:
    ScheduleTick.objects.filter(schedule_id=s.pk).update(seen_at=timezone.now() - timedelta(seconds=seconds))


def test_a_tick_lost_with_the_broker_is_sent_again_once(daily, settings, caplog):
    settings.SCHEDULE_TICK_LOST_AFTER_SECONDS = 600
    get_broker().purge_queue()  # Redis restarted: the tick's task is gone
    age(daily, 599)
    assert schedule_ticks_resend()["resent"] == 0, "not before SCHEDULE_TICK_LOST_AFTER_SECONDS"
    age(daily, 601)
    with caplog.at_level(logging.WARNING, logger="levqor.jobs"):
        assert schedule_ticks_resend()["resent"] == 1
    assert "sent again" in caplog.text
    tick = ScheduleTick.objects.get(schedule_id=daily.pk)
    assert tick.state == ScheduleTick.State.RESENT and tick.resent_task_id and tick.resent_at
    assert schedule_ticks_resend()["resent"] == 0, "once per tick"
    tasks = queued()
    assert len(tasks) == 1
    (task,) = tasks
    assert (task["id"], task["func"], task["kwargs"]) == (tick.resent_task_id, FUNC, {"schedule": "daily"})
    assert (task["group"], task["hook"]) == (daily.name, daily.hook)
    assert schedule_ticks_resend()["resent"] == 0


def test_two_clusters_send_a_lost_tick_once(daily, monkeypatch):
    get_broker().purge_queue()
    age(daily, 3600)
    stale = ScheduleTick.objects.get(schedule_id=daily.pk)  # what a second cluster read before the first sent
    assert schedule_ticks_resend()["resent"] == 1
    monkeypatch.setattr(schedule_ticks, "queue_size", lambda: 0)  # the first one's task already taken
    assert schedule_ticks._tick_judge(daily, stale, timezone.now()) is None
    assert len(queued()) == 1


def test_a_failed_send_leaves_the_tick_to_the_next_pass(daily, monkeypatch):
    get_broker().purge_queue()
    age(daily, 3600)

    def broker_down(s):
        raise ConnectionError("redis away")

    monkeypatch.setattr(schedule_ticks, "_tick_send", broker_down)
    assert schedule_ticks_resend()["failed"] == 1
    assert ScheduleTick.objects.get(schedule_id=daily.pk).state == ScheduleTick.State.WATCHING
    monkeypatch.undo()
    assert schedule_ticks_resend()["resent"] == 1


def test_a_tick_that_started_is_not_sent_again(daily):
    (task,) = queued()  # a worker takes it and django-q2 signals its execution
    assert task["id"] == daily.task
    pre_execute.send(sender="django_q", func=task["func"], task=task)
    assert ScheduleTickStart.objects.filter(task_id=daily.task).exists()
    age(daily, 3600)
    assert schedule_ticks_resend()["resent"] == 0
    assert ScheduleTick.objects.get(schedule_id=daily.pk).state == ScheduleTick.State.STARTED
    assert queued() == []


def test_a_run_token_start_writes_nothing():
    pre_execute.send(sender="django_q", func=RUN_NEXT, task={"id": "a" * 32, "func": RUN_NEXT, "name": "x"})
    assert not ScheduleTickStart.objects.exists()


def test_a_non_empty_queue_defers_the_tick(daily):
    age(daily, 3600)  # its task is still queued (or anything else is): it may still be waiting
    assert schedule_ticks_resend() == {"watching": 0, "resent": 0, "deferred": 1, "failed": 0}
    assert ScheduleTick.objects.get(schedule_id=daily.pk).state == ScheduleTick.State.WATCHING
    assert [t["id"] for t in queued()] == [daily.task]
    assert schedule_ticks_resend()["resent"] == 1, "sent once the queue is empty"


def test_the_task_held_when_first_seen_is_not_judged():
    """After deploy every Schedule's current task is old and has no start row: none is re-sent."""
    get_broker().purge_queue()
    s = Schedule.objects.create(name="test.ticks.old", func=FUNC, schedule_type=Schedule.DAILY,
                                next_run=timezone.now() + timedelta(hours=1), task="f" * 32)
    schedule_ticks_resend()
    ScheduleTick.objects.filter(schedule_id=s.pk).update(seen_at=timezone.now() - timedelta(days=1))
    assert schedule_ticks_resend()["resent"] == 0
    assert queued() == []


def test_a_retry_run_token_schedule_is_ignored():
    get_broker().purge_queue()
    run_token_at(timezone.now() + timedelta(hours=1))
    token = Schedule.objects.get(func=RUN_NEXT)
    schedule_ticks_resend()
    Schedule.objects.filter(pk=token.pk).update(task="e" * 32)
    schedule_ticks_resend()
    ScheduleTick.objects.update(seen_at=timezone.now() - timedelta(days=1))
    assert schedule_ticks_resend()["resent"] == 0
    assert not ScheduleTick.objects.filter(schedule_id=token.pk).exists()
    assert queued() == []


def test_the_cluster_loop_runs_it_every_minute(settings):
    from django.conf import settings as live

    assert ("jobs.schedule_ticks.schedule_ticks_resend", 60) in live.CLUSTER_LOOP_SWEEPS
    assert live.SCHEDULE_TICK_LOST_AFTER_SECONDS == 600


def test_a_schedule_with_an_intended_date_is_left_alone(daily):
    """Its tick's date (the next_run it was due at) is gone once next_run moved on."""
    Schedule.objects.filter(pk=daily.pk).update(intended_date_kwarg="tick")
    get_broker().purge_queue()
    age(daily, 3600)
    assert schedule_ticks_resend()["resent"] == 0
    assert queued() == []


@pytest.mark.slow
def test_a_real_worker_records_the_start_of_a_scheduler_tick(tmp_path):
    """A real `qcluster`: its scheduler creates the tick's task, a worker runs it, and the start is
    in the database under the task id the Schedule holds (django-q2's pre_execute in the worker)."""
    import subprocess
    import sys
    import time

    from django.conf import settings

    from tests.jobs.support import worker_env
    from tests.processes import process_stop

    Schedule.objects.all().delete()
    get_broker().purge_queue()
    s = Schedule.objects.create(name="test.ticks.real", func="math.floor", args="1.5", schedule_type=Schedule.DAILY,
                                next_run=timezone.now() - timedelta(seconds=1), repeats=-1)
    log = tmp_path / "qcluster.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"],  # noqa: S603
                                env={**worker_env(), "Q_WORKERS": "1"}, cwd=settings.BASE_DIR, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90  # the scheduler's first look is ~30 s after the start
        started = False
        while time.monotonic() < deadline and not started:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            s.refresh_from_db()
            started = bool(s.task) and ScheduleTickStart.objects.filter(task_id=s.task).exists()
            time.sleep(0.2)
    finally:
        process_stop(proc)
    assert started, log.read_text(errors="replace")[-3000:]
