"""levqor.schedules: a declared schedule exists exactly once after migrate, as declared (func,
cadence), whatever was there before; a daily one runs at its time of day and stays on it."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django_q.models import Schedule

from levqor.schedules import ScheduleSpec, schedule_ensure, schedules_declared

pytestmark = pytest.mark.django_db

EVERY = ScheduleSpec(app_label="levqor", name="test.every", func="tests.intelligence.schedule_probe.probe_run", minutes=5)
DAILY = ScheduleSpec(app_label="levqor", name="test.daily", func="tests.intelligence.schedule_probe.probe_run",
                     at=time(3, 30))


def test_migrate_creates_every_declared_schedule_once_and_again_changes_nothing():
    declared = schedules_declared()
    assert "intelligence.rollup" in declared
    call_command("migrate", verbosity=0)
    before = {s.name: (s.pk, s.next_run) for s in Schedule.objects.filter(name__in=declared)}
    assert set(before) == set(declared)
    call_command("migrate", verbosity=0)
    after = {s.name: (s.pk, s.next_run) for s in Schedule.objects.filter(name__in=declared)}
    assert after == before  # same rows, next runs untouched
    assert Schedule.objects.filter(name__in=declared).count() == len(declared)


def test_a_schedule_changed_by_hand_or_doubled_is_put_back_as_declared():
    first = schedule_ensure(EVERY)
    assert (first.func, first.schedule_type, first.minutes, first.repeats) == (EVERY.func, Schedule.MINUTES, 5, -1)
    Schedule.objects.filter(pk=first.pk).update(func="somewhere.else", minutes=60, repeats=0)
    twin = Schedule.objects.create(name=EVERY.name, func=EVERY.func, schedule_type=Schedule.MINUTES, minutes=5)
    again = schedule_ensure(EVERY)
    assert again.pk == first.pk
    assert list(Schedule.objects.filter(name=EVERY.name).values_list("pk", "func", "minutes", "repeats")) == [
        (first.pk, EVERY.func, 5, -1)]
    assert not Schedule.objects.filter(pk=twin.pk).exists()


def test_a_daily_schedule_runs_next_at_its_time_of_day_utc(clock):
    schedule = schedule_ensure(DAILY)
    now = datetime.now(UTC)
    assert schedule.schedule_type == Schedule.DAILY
    assert schedule.next_run.astimezone(UTC).time() == time(3, 30)
    assert now < schedule.next_run <= now + timedelta(days=1)
    # Left alone while it is aligned, even days later ...
    clock.advance(3 * 86400)
    assert schedule_ensure(DAILY).next_run == schedule.next_run
    # ... and moved when the declared time changes.
    moved = schedule_ensure(ScheduleSpec(app_label="levqor", name=DAILY.name, func=DAILY.func, at=time(4, 0)))
    assert moved.pk == schedule.pk and moved.next_run.astimezone(UTC).time() == time(4, 0)


def test_a_daily_time_must_be_utc_and_naive():
    from levqor.schedules import schedule_daily

    with pytest.raises(ValueError):
        schedule_daily(app_config=apps.get_app_config("levqor"), name="x", func="y", at=time(3, 0, tzinfo=UTC))


def test_cadence_reads_as_people_say_it():
    assert EVERY.cadence == "every 5 minutes"
    assert DAILY.cadence == "daily at 03:30 UTC"
    assert ScheduleSpec(app_label="x", name="y", func="z", minutes=1).cadence == "every minute"
