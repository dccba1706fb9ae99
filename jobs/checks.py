"""System checks of the worker configuration."""

from django.conf import settings
from django.core.checks import Error, register

from jobs.workflows import workflow_all


@register()
def worker_timeout_check(app_configs, **kwargs):
    """django-q2 kills a task at Q_CLUSTER["timeout"]. A run token may start a job up to
    WORKER_BATCH_SECONDS after it began, and the job may then run for its workflow's timeout, so
    the sum must stay under the kill, or a slow last job of a batch would be cut off mid-run."""
    longest = max((w.timeout_seconds for w in workflow_all()), default=0)
    needed = settings.WORKER_BATCH_SECONDS + longest
    if settings.Q_CLUSTER["timeout"] <= needed:
        return [Error(
            f"Q_TIMEOUT ({settings.Q_CLUSTER['timeout']} s) must be above WORKER_BATCH_SECONDS "
            f"({settings.WORKER_BATCH_SECONDS:g} s) plus the longest workflow timeout ({longest} s).",
            hint="Raise Q_TIMEOUT or lower WORKER_BATCH_SECONDS.", id="levqor.E101")]
    return []
