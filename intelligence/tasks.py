"""django-q2 entry points: load ids, call a service. No logic here."""

from intelligence.services.alert_routing import alert_deliveries_sweep as _alert_deliveries_sweep
from intelligence.services.alert_routing import alert_delivery_send as _alert_delivery_send
from intelligence.services.anomalies import anomaly_scan as _anomaly_scan
from intelligence.services.autotune import autotune_run as _autotune_run
from intelligence.services.growth_aggregates import growth_aggregate as _growth_aggregate
from intelligence.services.growth_aggregates import retention_aggregate as _retention_aggregate
from intelligence.services.incidents import slo_watchdog_run as _slo_watchdog_run
from intelligence.services.metrics import metrics_purge as _metrics_purge
from intelligence.services.metrics import metrics_rollup as _metrics_rollup
from levqor.sentry import task_errors_reported


@task_errors_reported
def alert_delivery_send(delivery_id):
    return _alert_delivery_send(delivery_id=delivery_id)


@task_errors_reported
def alert_deliveries_sweep():
    return _alert_deliveries_sweep()


@task_errors_reported
def anomaly_scan():
    return len(_anomaly_scan())


@task_errors_reported
def slo_watchdog():
    check = _slo_watchdog_run()
    return None if check is None else check.pk


@task_errors_reported
def autotune():
    return [suggestion.pk for suggestion in _autotune_run(may_self_apply=True)]


@task_errors_reported
def metrics_rollup():
    return _metrics_rollup()


@task_errors_reported
def metrics_purge():
    return _metrics_purge()


@task_errors_reported
def retention_aggregate():
    return _retention_aggregate()


@task_errors_reported
def growth_aggregate():
    return _growth_aggregate()
