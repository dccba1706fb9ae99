import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

REAPER_SCHEDULE_NAME = "jobs.reap (lease reaper, dispatcher, heartbeat)"


def _reaper_schedule_ensure(sender, **kwargs):
    """The recurring reaper, exactly one schedule per cluster, created or corrected after migrate."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=REAPER_SCHEDULE_NAME,
        defaults={"func": "jobs.tasks.job_reap", "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )


def _heartbeat_on_spawn(sender, proc_name=None, **kwargs):
    from jobs.execution import worker_heartbeat

    try:
        worker_heartbeat()
    except Exception:  # a worker must start even if the database blinks; the reaper beats again
        logging.getLogger("levqor.jobs").warning("heartbeat on worker start failed", exc_info=True)


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self):
        from django_q.signals import post_spawn

        from jobs.execution import worker_alive
        from levqor.health import register_readiness_check

        register_readiness_check("worker", worker_alive)
        post_migrate.connect(_reaper_schedule_ensure, sender=self)
        post_spawn.connect(_heartbeat_on_spawn, dispatch_uid="jobs-heartbeat")
