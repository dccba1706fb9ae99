"""Local-time schedules (levqor.schedules.schedule_local): 09:00 Europe/London stays 09:00 London
across the clock changes (2026-10-25, 2027-03-28), daily and weekly; created once and left alone
by migrate; one run per tick with two schedulers at once; after downtime one run, then the next
local tick. And README's schedule table lists every declared schedule."""

import re
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from levqor import schedules
from levqor.schedules import ScheduleSpec, local_tick_nearest, local_tick_next, schedule_ensure, schedules_declared
from tests.concurrency import run_together
from tests.intelligence.schedule_probe import probe_runs, probe_table_create, probe_table_drop
from tests.jobs.support import tasks_drain

PROBE = "tests.intelligence.schedule_probe.probe_run"
LONDON = "Europe/London"
DAILY = ScheduleSpec(app_label="levqor", name="probe.london_daily", func=PROBE, at=time(9), tz=LONDON)
SUNDAYS = ScheduleSpec(app_label="levqor", name="probe.london_sundays", func=PROBE, at=time(9), tz=LONDON, weekday=6)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def now_at(monkeypatch):
    """Django's clock set to a given moment, from which it runs on: now_at(datetime). (It must run:
    the ORM broker hands out a task only once its lock time is past.)"""
    real_now = timezone.now
    offset = [timedelta(0)]
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset[0])

    def set_to(value: datetime):
        offset[0] = value - real_now()

    return set_to


@pytest.fixture
def declared(monkeypatch):
    """The probe specs declared (the pre_save receiver finds them by name) for this test only."""
    monkeypatch.setitem(schedules._declared, DAILY.name, DAILY)
    monkeypatch.setitem(schedules._declared, SUNDAYS.name, SUNDAYS)
    schedules._local_receiver_connect()


@pytest.fixture
def probe_table(transactional_db):
    probe_table_create()
    yield
    probe_table_drop()


def _due_probe(spec: ScheduleSpec, next_run: datetime) -> Schedule:
    row = schedule_ensure(spec)
    Schedule.objects.filter(pk=row.pk).update(next_run=next_run, kwargs=repr({"schedule": spec.name}),
                                              intended_date_kwarg="tick")
    return row


def test_cadence_names_the_zone_and_the_weekday():
    assert DAILY.cadence == "daily at 09:00 Europe/London"
    assert SUNDAYS.cadence == "Sundays at 09:00 Europe/London"
    declared = schedules_declared("intelligence")
    assert declared["intelligence.ops_summary_email"].cadence == "daily at 09:00 Europe/London"
    assert declared["intelligence.weekly_report_email"].cadence == "Sundays at 09:00 Europe/London"
    assert declared["intelligence.notion_sync_pulse"].cadence == "Fridays at 14:00 Europe/London"
    assert settings.REPORTS_TIME_ZONE == LONDON


def test_the_next_local_tick_on_each_side_of_the_clock_changes():
    # Spring forward 2027-03-28 01:00 UTC: 09:00 London is 09:00 UTC before, 08:00 UTC after.
    assert local_tick_next(DAILY, utc(2027, 3, 26, 9, 30)) == utc(2027, 3, 27, 9)
    assert local_tick_next(DAILY, utc(2027, 3, 27, 9, 0)) == utc(2027, 3, 28, 8)
    assert local_tick_next(DAILY, utc(2027, 3, 28, 8, 0)) == utc(2027, 3, 29, 8)
    # Fall back 2026-10-25 01:00 UTC: 08:00 UTC before, 09:00 UTC after.
    assert local_tick_next(DAILY, utc(2026, 10, 24, 7, 59)) == utc(2026, 10, 24, 8)
    assert local_tick_next(DAILY, utc(2026, 10, 24, 8, 0)) == utc(2026, 10, 25, 9)
    # Sundays: both changes fall on a Sunday.
    assert local_tick_next(SUNDAYS, utc(2026, 10, 18, 8, 0)) == utc(2026, 10, 25, 9)
    assert local_tick_next(SUNDAYS, utc(2027, 3, 21, 9, 0)) == utc(2027, 3, 28, 8)
    assert local_tick_next(SUNDAYS, utc(2027, 3, 24, 12)) == utc(2027, 3, 28, 8)
    with pytest.raises(ValueError):
        schedules.schedule_local(app_config=None, name="x", func="x", at=time(9), tz=LONDON, weekday=7)


@pytest.mark.parametrize(("spec", "ticks"), [
    (DAILY, [utc(2027, 3, 27, 9), utc(2027, 3, 28, 8), utc(2027, 3, 29, 8)]),
    (DAILY, [utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)]),
    (SUNDAYS, [utc(2026, 10, 18, 8), utc(2026, 10, 25, 9), utc(2026, 11, 1, 9)]),
    (SUNDAYS, [utc(2027, 3, 21, 9), utc(2027, 3, 28, 8), utc(2027, 4, 4, 8)]),
])
def test_the_scheduler_keeps_a_london_schedule_at_0900_london_across_dst(probe_table, declared, now_at, spec, ticks):
    Schedule.objects.all().delete()
    now_at(ticks[0] - timedelta(minutes=5))
    row = _due_probe(spec, ticks[0])
    for tick, following in zip(ticks, ticks[1:], strict=False):
        now_at(tick + timedelta(seconds=20))  # the cluster looks every ~30 s
        scheduler(broker=get_broker())
        scheduler(broker=get_broker())  # again before the next tick: nothing
        row.refresh_from_db()
        assert row.next_run == following, (tick, row.next_run)
    assert [func for func, *_ in tasks_drain()] == [PROBE, PROBE]
    assert [t for _, t, _ in probe_runs()] == [tick.isoformat() for tick in ticks[:2]]


def test_after_downtime_a_london_schedule_runs_once_then_waits_for_its_next_local_tick(probe_table, declared, now_at):
    assert settings.Q_CLUSTER["catch_up"] is False
    Schedule.objects.all().delete()
    row = _due_probe(DAILY, utc(2026, 10, 20, 8))  # the last tick before the workers stopped (BST)
    now_at(utc(2026, 10, 27, 12))  # a week later, after the change
    scheduler(broker=get_broker())
    scheduler(broker=get_broker())
    assert len(tasks_drain()) == 1
    row.refresh_from_db()
    assert row.next_run == utc(2026, 10, 28, 9)  # 09:00 London in winter
    # Back up at 08:30 UTC in summer: the 09:00 UTC day-step would be an hour late; 08:00 is past.
    Schedule.objects.filter(pk=row.pk).update(next_run=utc(2027, 4, 1, 8))
    now_at(utc(2027, 4, 5, 8, 30))
    scheduler(broker=get_broker())
    assert len(tasks_drain()) == 1
    row.refresh_from_db()
    assert row.next_run == utc(2027, 4, 6, 8)


def test_two_schedulers_at_the_same_moment_run_a_london_tick_once(probe_table, declared, now_at):
    Schedule.objects.all().delete()
    _due_probe(DAILY, utc(2027, 3, 27, 9))
    _due_probe(SUNDAYS, utc(2027, 3, 21, 9))
    now_at(utc(2027, 3, 27, 9, 0, 20))
    _, errors = run_together(lambda: scheduler(broker=get_broker()), timeout=60)
    assert not errors
    assert len(tasks_drain()) == 2
    assert sorted(s for s, _, _ in probe_runs()) == [DAILY.name, SUNDAYS.name]
    assert dict(Schedule.objects.values_list("name", "next_run")) == {
        DAILY.name: utc(2027, 3, 28, 8), SUNDAYS.name: utc(2027, 3, 28, 8)}


@pytest.mark.django_db
def test_ensure_creates_once_leaves_a_right_row_alone_and_puts_a_wrong_one_back(declared, now_at):
    now_at(utc(2026, 10, 24, 12))
    first = schedule_ensure(SUNDAYS)
    assert (first.schedule_type, first.func, first.repeats) == (Schedule.WEEKLY, PROBE, -1)
    assert first.next_run == utc(2026, 10, 25, 9)
    now_at(utc(2026, 10, 25, 3))  # after the change, before the tick: still right, left alone
    assert schedule_ensure(SUNDAYS).next_run == utc(2026, 10, 25, 9)
    Schedule.objects.filter(pk=first.pk).update(next_run=utc(2026, 10, 25, 9, 17))  # moved by hand
    Schedule.objects.create(name=SUNDAYS.name, func=PROBE, schedule_type=Schedule.WEEKLY)  # a twin
    again = schedule_ensure(SUNDAYS)
    assert again.pk == first.pk and Schedule.objects.filter(name=SUNDAYS.name).count() == 1
    assert again.next_run == utc(2026, 10, 25, 9)
    assert schedule_ensure(DAILY).schedule_type == Schedule.DAILY


@pytest.mark.django_db
def test_migrate_puts_the_london_schedules_on_a_london_tick_and_again_changes_nothing():
    call_command("migrate", verbosity=0)
    names = ["intelligence.ops_summary_email", "intelligence.weekly_report_email", "intelligence.notion_sync_pulse"]
    before = {s.name: (s.pk, s.next_run) for s in Schedule.objects.filter(name__in=names)}
    assert set(before) == set(names)
    for name, (_, next_run) in before.items():
        spec = schedules_declared()[name]
        assert next_run == local_tick_nearest(spec, next_run) and next_run > timezone.now(), name
        assert next_run <= local_tick_next(spec, timezone.now()), name
    call_command("migrate", verbosity=0)
    assert {s.name: (s.pk, s.next_run) for s in Schedule.objects.filter(name__in=names)} == before


def _readme_schedule_table() -> str:
    text = (Path(settings.BASE_DIR) / "README.md").read_text()
    match = re.search(r"^### Schedules\n(.*?)(?=^#)", text, re.S | re.M)
    assert match, 'README.md has no "### Schedules" section'
    return match.group(1)


def test_readme_schedule_table_lists_every_declared_schedule():
    table = _readme_schedule_table()
    named = set(re.findall(r"`([a-z_]+\.[a-z_]+[^`]*)`", table))
    missing = sorted(set(schedules_declared()) - named)
    assert not missing, f"README's ### Schedules table does not list: {missing}"
