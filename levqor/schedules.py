"""Recurring django-q2 schedules that apps declare: created or corrected after migrate, exactly
one per name (the cluster runs each once per period, never once per worker).

Why exactly once per tick, even with several `qcluster` processes: django-q2's scheduler takes due
schedules with SELECT ... FOR UPDATE inside a transaction and moves next_run before committing
(SQLite: the IMMEDIATE transaction serialises the scan), so a second cluster scanning at the same
moment finds the tick already taken. With Q_CLUSTER catch_up False a schedule whose next_run is
long past (the cluster was down) runs once and its next_run jumps to the first tick in the future,
keeping its phase: no burst of catch-up runs. tests/intelligence/test_schedules*.py hold both.

Local-time schedules (schedule_local: 09:00 Europe/London, daily or on one weekday) stay at that
local time across DST without croniter and without changing the cluster's one time zone
(Q_CLUSTER "time_zone", which django-q2's DAILY/WEEKLY arithmetic and CRON use): the row is a
DAILY or WEEKLY schedule, and a pre_save receiver on django-q2's Schedule puts its next_run on the
local tick whenever it is saved. The scheduler saves the row (next_run moved a UTC day or week on)
inside its SELECT ... FOR UPDATE transaction, so the correction lands in the same commit as the
task: exactly once per tick still holds, and a lost task changes nothing (the next tick is already
written). The UTC day it added is at most an hour off the local tick: the receiver takes the
nearest tick, or the first one in the future when that is past (after downtime: no catch-up)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models.signals import post_migrate
from django.utils import timezone


@dataclass(frozen=True)
class ScheduleSpec:
    """What an app declared: a named recurring call, every `minutes`, or daily at `at` (UTC), or at
    `at` local time in the zone `tz` (daily, or on `weekday` only: 0 Monday .. 6 Sunday)."""

    app_label: str
    name: str
    func: str
    minutes: int | None = None
    at: time | None = None
    tz: str | None = None
    weekday: int | None = None

    @property
    def cadence(self) -> str:
        if self.tz is not None:
            when = "daily" if self.weekday is None else f"{_WEEKDAYS[self.weekday]}s"
            return f"{when} at {self.at:%H:%M} {self.tz}"
        if self.at is not None:
            return f"daily at {self.at:%H:%M} UTC"
        return "every minute" if self.minutes == 1 else f"every {self.minutes} minutes"


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_declared: dict[str, ScheduleSpec] = {}


def schedule_every(*, app_config, name: str, func: str, minutes: int) -> None:
    """Keep a schedule named `name` running `func` every `minutes`, (re)written after each migrate
    of `app_config`'s app."""
    _declare(app_config, ScheduleSpec(app_label=app_config.label, name=name, func=func, minutes=minutes))


def schedule_daily(*, app_config, name: str, func: str, at: time) -> None:
    """Keep a schedule named `name` running `func` once a day at `at` (UTC), (re)written after each
    migrate of `app_config`'s app. Its next run stays aligned on that time of day."""
    if at.tzinfo is not None:
        raise ValueError("schedule_daily takes a naive time, read as UTC")
    _declare(app_config, ScheduleSpec(app_label=app_config.label, name=name, func=func, at=at))


def schedule_local(*, app_config, name: str, func: str, at: time, tz: str, weekday: int | None = None) -> None:
    """Keep a schedule named `name` running `func` at `at` local time in the zone `tz` (an IANA
    name: "Europe/London"), every day or only on `weekday` (0 Monday .. 6 Sunday), (re)written after
    each migrate of `app_config`'s app. It stays at that local time across DST changes: 09:00 London
    is 08:00 UTC in summer and 09:00 UTC in winter. A local time that a spring-forward skips runs at
    the same wall-clock reading on the old offset (an hour later); one that autumn repeats runs once,
    at its first occurrence."""
    if at.tzinfo is not None:
        raise ValueError("schedule_local takes a naive time, read in `tz`")
    if weekday is not None and weekday not in range(7):
        raise ValueError("weekday is 0 (Monday) .. 6 (Sunday)")
    ZoneInfo(tz)  # an unknown zone fails at declaration, not at the first run
    _declare(app_config, ScheduleSpec(app_label=app_config.label, name=name, func=func, at=at, tz=tz, weekday=weekday))
    _local_receiver_connect()


def local_tick(spec: ScheduleSpec, day: date) -> datetime | None:
    """The UTC moment of `spec`'s run on the local calendar day `day` (None: not its weekday)."""
    if spec.weekday is not None and day.weekday() != spec.weekday:
        return None
    return datetime.combine(day, spec.at, tzinfo=ZoneInfo(spec.tz)).astimezone(UTC)


def local_tick_next(spec: ScheduleSpec, after: datetime) -> datetime:
    """`spec`'s first run strictly after `after`."""
    day = after.astimezone(ZoneInfo(spec.tz)).date() - timedelta(days=1)
    for offset in range(9):
        tick = local_tick(spec, day + timedelta(days=offset))
        if tick is not None and tick > after:
            return tick
    raise AssertionError("unreachable: a weekday comes within 9 days")


def local_tick_nearest(spec: ScheduleSpec, moment: datetime) -> datetime:
    """`spec`'s run nearest to `moment` (on or before it, or after it)."""
    after = local_tick_next(spec, moment)
    period = timedelta(days=1 if spec.weekday is None else 7)
    before = local_tick_next(spec, moment - period - timedelta(hours=2))
    while (following := local_tick_next(spec, before)) <= moment:
        before = following
    return before if moment - before <= after - moment else after


def _local_next_run(spec: ScheduleSpec, next_run: datetime | None, now: datetime) -> datetime:
    """Where a local schedule's next_run belongs: on the tick nearest the one given, or the first
    tick in the future when that is past or there is none."""
    if next_run is not None:
        tick = local_tick_nearest(spec, next_run)
        if tick > now:
            return tick
    return local_tick_next(spec, now)


def _local_next_run_keep(sender, instance, update_fields=None, **kwargs):
    """pre_save of django-q2's Schedule: a local schedule's row keeps its next_run on a local tick
    (the scheduler has just added a UTC day or week to it)."""
    spec = _declared.get(instance.name or "")
    if spec is None or spec.tz is None or instance.repeats == 0:
        return
    if update_fields is not None and "next_run" not in update_fields:
        return
    instance.next_run = _local_next_run(spec, instance.next_run, timezone.now())


def _local_receiver_connect() -> None:
    from django.db.models.signals import pre_save
    from django_q.models import Schedule

    pre_save.connect(_local_next_run_keep, sender=Schedule, weak=False, dispatch_uid="schedules:local-next-run")


def schedules_declared(app_label: str | None = None) -> dict[str, ScheduleSpec]:
    """The schedules declared so far (by every app, or by one), by name."""
    return {name: spec for name, spec in _declared.items() if app_label is None or spec.app_label == app_label}


def _declare(app_config, spec: ScheduleSpec) -> None:
    _declared[spec.name] = spec

    def ensure(sender, using="default", **kwargs):
        schedule_ensure(spec, using=using)

    post_migrate.connect(ensure, sender=app_config, weak=False, dispatch_uid=f"schedule:{spec.name}")


def _next_daily_run(at: time, now: datetime) -> datetime:
    candidate = datetime.combine(now.date(), at, tzinfo=UTC)
    return candidate if candidate > now else candidate + timedelta(days=1)


def schedule_ensure(spec: ScheduleSpec, *, using: str = "default"):
    """Make the database hold exactly one schedule named spec.name, as declared. Idempotent: a
    schedule that is already right is left alone (its next run too); duplicates (two deploys
    migrating at once: Schedule.name is not unique) are folded into the oldest."""
    from django_q.models import Schedule

    wanted = {"func": spec.func, "repeats": -1}
    if spec.tz is not None:
        wanted.update(schedule_type=Schedule.DAILY if spec.weekday is None else Schedule.WEEKLY, minutes=None)
    elif spec.at is not None:
        wanted.update(schedule_type=Schedule.DAILY, minutes=None)
    else:
        wanted.update(schedule_type=Schedule.MINUTES, minutes=spec.minutes)
    with transaction.atomic(using=using):
        rows = list(Schedule.objects.using(using).select_for_update().filter(name=spec.name).order_by("pk"))
        for extra in rows[1:]:
            extra.delete()
        schedule = rows[0] if rows else Schedule(name=spec.name)
        changed = [field for field, value in wanted.items() if getattr(schedule, field) != value]
        for field in changed:
            setattr(schedule, field, wanted[field])
        if spec.tz is not None:
            next_run = schedule.next_run
            if schedule.pk is None or next_run is None or next_run != _local_next_run(spec, next_run, timezone.now()):
                schedule.next_run = local_tick_next(spec, timezone.now())
                changed.append("next_run")
        elif spec.at is not None:
            next_run = schedule.next_run
            aligned = next_run is not None and next_run.astimezone(UTC).time().replace(microsecond=0) == spec.at
            if schedule.pk is None or not aligned:
                schedule.next_run = _next_daily_run(spec.at, timezone.now())
                changed.append("next_run")
        if schedule.pk is None:
            schedule.save(using=using)
        elif changed:
            schedule.save(using=using, update_fields=changed)
    return schedule
