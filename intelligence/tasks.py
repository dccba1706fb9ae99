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
from intelligence.services.notion import notion_sync_task_run as _notion_sync_task_run
from intelligence.services.ops_summary import ops_summary_send as _ops_summary_send
from intelligence.services.pricing import pricing_monthly_run as _pricing_monthly_run
from intelligence.services.reports import report_email as _report_email
from intelligence.services.reports import report_generate as _report_generate
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
def weekly_report_email():
    """The weekly governance report (Sun 09:00 London, registered by the London-time schedules):
    generated, then emailed to OPS_EMAILS. A failed send is kept on the Report row, not raised."""
    report = _report_generate(kind="weekly", source="schedule")
    return {"report": report.pk, "emailed_to": _report_email(report=report)}


# Notion sync (intelligence.services.notion): `attempt` counts the hand-overs after Notion was unavailable.
@task_errors_reported
def notion_sync_health(attempt=0):
    return _notion_sync_task_run(group="health", attempt=int(attempt))


@task_errors_reported
def notion_sync_costs(attempt=0):
    return _notion_sync_task_run(group="costs", attempt=int(attempt))


@task_errors_reported
def notion_sync_pulse(attempt=0):
    return _notion_sync_task_run(group="pulse", attempt=int(attempt))


@task_errors_reported
def notion_sync_registry(attempt=0):
    return _notion_sync_task_run(group="registry", attempt=int(attempt))


@task_errors_reported
def integrity_check_run():
    """The daily integrity check and its evidence PDF. Inside a worker: when no other worker process
    can take the check's job (one worker, or the sync broker), this process runs it (README: Integrity check)."""
    from django_q.conf import Conf

    from intelligence.integrity_worker import integrity_worker_here
    from intelligence.services.integrity import integrity_report_create, integrity_run

    alone = Conf.SYNC or (Conf.WORKERS or 1) < 2
    run = integrity_run(source="schedule", worker=integrity_worker_here if alone else None)
    integrity_report_create(run=run, source="schedule")
    return run.ok


@task_errors_reported
def ops_summary_email():
    return _ops_summary_send()
