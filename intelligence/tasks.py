"""django-q2 entry points of the operations back-office: call a service. No logic here."""

from intelligence.services.metrics import metrics_purge as _metrics_purge
from intelligence.services.metrics import metrics_rollup as _metrics_rollup
from levqor.sentry import task_errors_reported


@task_errors_reported
def metrics_rollup():
    return _metrics_rollup()


@task_errors_reported
def metrics_purge():
    return _metrics_purge()
