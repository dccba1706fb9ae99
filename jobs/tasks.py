"""django-q2 entry points: load ids, call a service. No logic here."""

from jobs.callbacks import job_callback_deliver as _deliver
from jobs.execution import job_reap as _reap
from jobs.execution import job_run_next as _run_next


def job_run_next():
    job = _run_next()
    return str(job.pk) if job else None


def job_callback_deliver(job_id):
    return _deliver(job_id=job_id)


def job_reap():
    return _reap()
