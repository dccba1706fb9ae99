"""Recurring django-q2 schedules that apps declare: created or corrected after migrate, exactly
one per name (the cluster runs each once per period, never once per worker).

Why exactly once per tick, even with several `qcluster` processes: django-q2's scheduler takes due
schedules with SELECT ... FOR UPDATE inside a transaction and moves next_run before committing
(SQLite: the IMMEDIATE transaction serialises the scan), so a second cluster scanning at the same
moment finds the tick already taken. With Q_CLUSTER catch_up False a schedule whose next_run is
long past (the cluster was down) runs once and its next_run jumps to the first tick in the future,
keeping its phase: no burst of catch-up runs. tests/intelligence/test_schedules*.py hold both."""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db import transaction
from django.db.models.signals import post_migrate
from django.utils import timezone


@dataclass(frozen=True)
class ScheduleSpec:
    """What an app declared: a named recurring call, every `minutes`, or daily at `at` (UTC)."""

    app_label: str
    name: str
    func: str
    minutes: int | None = None
    at: time | None = None

    @property
    def cadence(self) -> str:
        if self.at is not None:
            return f"daily at {self.at:%H:%M} UTC"
        return "every minute" if self.minutes == 1 else f"every {self.minutes} minutes"


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
    if spec.at is not None:
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
        if spec.at is not None:
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
