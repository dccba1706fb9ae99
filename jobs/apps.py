import logging

from django.apps import AppConfig
from django.conf import settings

# The reaper was a django-q2 schedule of this name until it moved into each qcluster's main process
# (jobs/cluster.py); migration 0007 deletes the old row.
REAPER_SCHEDULE_NAME = "jobs.reap (lease reaper, dispatcher, heartbeat)"


def _worker_connection_tune(sender, connection, **kwargs):
    """Worker processes commit job transitions without waiting for the disk flush.

    Safe under ARCHITECTURE.md section 4: a crash can lose only the last moments of commits, so
    a claim reverts to queued (run again) and a finish reverts to running (the lease reaper runs
    it again); handlers are idempotent on the job id. Intake, in web processes, stays durable:
    its 202 promises the job is stored."""
    if connection.vendor == "postgresql" and settings.WORKER_ASYNC_COMMIT:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")


def _worker_process_setup(sender, proc_name=None, **kwargs):
    from django.db import connections
    from django.db.backends.signals import connection_created

    from jobs.cluster import worker_signals_ordinary
    from jobs.execution import worker_heartbeat

    worker_signals_ordinary()

    connection_created.connect(_worker_connection_tune, dispatch_uid="jobs-worker-connection")
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None:
            _worker_connection_tune(None, connection)
    try:
        worker_heartbeat()
    except Exception:  # a worker must start even if the database blinks; the reaper beats again
        logging.getLogger("levqor.jobs").warning("heartbeat on worker start failed", exc_info=True)


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self):
        from django_q.signals import post_spawn, pre_execute

        from jobs import checks  # noqa: F401  (registers the system checks)
        from jobs.callbacks import job_events_register, job_finished_receiver
        from jobs.execution import worker_alive
        from jobs.personal_data import jobs_personal_data_register
        from jobs.schedule_ticks import tick_start_record
        from jobs.signals import job_finished
        from levqor.health import register_readiness_check

        register_readiness_check("worker", worker_alive)
        post_spawn.connect(_worker_process_setup, dispatch_uid="jobs-worker-setup")
        pre_execute.connect(tick_start_record, dispatch_uid="jobs-schedule-tick-start")
        jobs_personal_data_register()
        job_events_register()
        job_finished.connect(job_finished_receiver, dispatch_uid="jobs-callbacks-job-finished")
