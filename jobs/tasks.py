"""django-q2 entry points: load ids, call a service. No logic here."""

from jobs.callbacks import job_final_notify as _final_notify
from jobs.execution import job_reap as _reap
from jobs.execution import job_run_due as _run_due
from jobs.execution import worker_heartbeat as _heartbeat
from levqor.sentry import task_errors_reported


@task_errors_reported
def job_run_next():
    """A run token: run the due jobs (the name is kept for tokens already queued)."""
    return _run_due()


@task_errors_reported
def job_callback_deliver(job_id):
    """Kept for tasks and schedules queued before callbacks moved onto the webhook engine: hands the
    job's callback to the engine (once-only, by its key)."""
    return _final_notify(job_id=job_id)


@task_errors_reported
def job_reap():
    return _reap()


@task_errors_reported
def worker_heartbeat():
    """Sent by each cluster's loop (jobs.dispatch.heartbeat_enqueue): run by a worker, it proves one takes tasks."""
    return _heartbeat()
