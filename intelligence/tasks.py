"""django-q2 entry points: load ids, call a service. No logic here."""

from intelligence.services.alert_routing import alert_deliveries_sweep as _alert_deliveries_sweep
from intelligence.services.alert_routing import alert_delivery_send as _alert_delivery_send
from levqor.sentry import task_errors_reported


@task_errors_reported
def alert_delivery_send(delivery_id):
    return _alert_delivery_send(delivery_id=delivery_id)


@task_errors_reported
def alert_deliveries_sweep():
    return _alert_deliveries_sweep()
