"""django-q2 entry points: load ids, call a service. No logic here."""

from intelligence.services.alert_routing import alert_deliveries_sweep as _alert_deliveries_sweep
from intelligence.services.alert_routing import alert_delivery_send as _alert_delivery_send
from intelligence.services.anomalies import anomaly_scan as _anomaly_scan
from intelligence.services.autoscale import autoscale_purge as _autoscale_purge
from intelligence.services.autoscale import autoscale_run as _autoscale_run
from intelligence.services.autotune import autotune_run as _autotune_run
from intelligence.services.discounts import discount_daily_run as _discount_daily_run
from intelligence.services.growth_aggregates import growth_aggregate as _growth_aggregate
from intelligence.services.growth_aggregates import retention_aggregate as _retention_aggregate
from intelligence.services.incidents import slo_watchdog_run as _slo_watchdog_run
from intelligence.services.ledger_costs import ledger_ai_cost_daily as _ledger_ai_cost_daily
from intelligence.services.ledger_marketplace import ledger_orders_reconcile as _ledger_orders_reconcile
from intelligence.services.ledger_stripe import ledger_stripe_reconcile as _ledger_stripe_reconcile
from intelligence.services.metrics import metrics_purge as _metrics_purge
from intelligence.services.metrics import metrics_rollup as _metrics_rollup
from intelligence.services.ops_summary import ops_summary_send as _ops_summary_send
from intelligence.services.pricing import pricing_monthly_run as _pricing_monthly_run
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
def ledger_ai_cost():
    return _ledger_ai_cost_daily()


@task_errors_reported
def ledger_reconcile():
    return {**_ledger_stripe_reconcile(), "orders": _ledger_orders_reconcile()}


@task_errors_reported
def autoscale():
    decision = _autoscale_run()
    return {"action": decision.action, "desired_workers": decision.desired_workers}


@task_errors_reported
def autoscale_purge():
    return _autoscale_purge()


@task_errors_reported
def pricing_monthly():
    suggestion = _pricing_monthly_run()
    return None if suggestion is None else suggestion.pk


@task_errors_reported
def discounts_daily():
    return _discount_daily_run().pk


@task_errors_reported
def retention_aggregate():
    return _retention_aggregate()


@task_errors_reported
def growth_aggregate():
    return _growth_aggregate()


@task_errors_reported
def ops_summary_email():
    return _ops_summary_send()
