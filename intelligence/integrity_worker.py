"""The integrity check's own worker, for when no other worker process can take the check's job (a
cluster of one worker, the sync broker, no cluster at all): it runs the job's code here, as a
django-q2 task would. Outside intelligence/services/ because it drives the jobs app's worker code
(jobs.execution), which is the worker's, not a service's."""


def integrity_worker_here(job_id) -> None:
    """Be the worker for the check's own job (when no other worker process can take it: a cluster
    of one worker, or the sync broker): run the next due job, as a django-q2 task would."""
    from jobs.execution import job_run_next
    from jobs.models import Job

    if Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).exists():
        job_run_next()
