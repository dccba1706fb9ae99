"""Recurring django-q2 schedules that apps declare: created or corrected after migrate, exactly
one per name (the cluster runs each once per period, never once per worker)."""

from django.db.models.signals import post_migrate


def schedule_every(*, app_config, name: str, func: str, minutes: int) -> None:
    """Keep a schedule named `name` running `func` every `minutes`, (re)written after each migrate
    of `app_config`'s app."""

    def ensure(sender, **kwargs):
        from django_q.models import Schedule

        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1})

    post_migrate.connect(ensure, sender=app_config, weak=False, dispatch_uid=f"schedule:{name}")
