from datetime import time

from django.apps import AppConfig

# Recurring schedules: (name, task, every so many minutes).
SCHEDULES = (
    ("intelligence.anomaly_scan", "intelligence.tasks.anomaly_scan", 1),
    ("intelligence.slo_watchdog", "intelligence.tasks.slo_watchdog", 5),
    ("intelligence.autotune", "intelligence.tasks.autotune", 60),
    # Live metrics: the rollup adds every process's finished minutes up (intelligence.services.metrics).
    ("intelligence.rollup", "intelligence.tasks.metrics_rollup", 1),
    # Alert deliveries whose task was lost are handed to the workers again.
    ("intelligence.alert_deliveries_sweep", "intelligence.tasks.alert_deliveries_sweep", 2),
    # Profit-driven autoscale: this minute's decision (intelligence.services.autoscale).
    ("intelligence.autoscale", "intelligence.tasks.autoscale", 1),
)


class IntelligenceConfig(AppConfig):
    """The operations back-office: flags and stabilize mode, metrics, anomalies, alerts,
    incidents, auto-tune. It reads every app and owns nothing of theirs (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "intelligence"
    verbose_name = "Operations"

    def ready(self):
        from intelligence.personal_data import intelligence_personal_data_register
        from intelligence.services.metrics import metric_shards_write
        from levqor.metrics import metrics_sink_register
        from levqor.schedules import schedule_daily, schedule_every

        intelligence_personal_data_register()
        # Live metrics: the embedded mode's processes send finished minutes to our table.
        metrics_sink_register(metric_shards_write)
        for name, func, minutes in SCHEDULES:
            schedule_every(app_config=self, name=name, func=func, minutes=minutes)
        # Rollups past METRICS_RETENTION_DAYS go once a day, at a quiet hour.
        schedule_daily(app_config=self, name="intelligence.metrics_purge", func="intelligence.tasks.metrics_purge",
                       at=time(3, 30))
        # The profit ledger: yesterday's AI cost from the jobs, and what Stripe processing missed.
        schedule_daily(app_config=self, name="intelligence.ledger_ai_cost", func="intelligence.tasks.ledger_ai_cost",
                       at=time(0, 15))
        schedule_daily(app_config=self, name="intelligence.ledger_reconcile",
                       func="intelligence.tasks.ledger_reconcile", at=time(1, 0))
        from intelligence.services.ledger_stripe import ledger_stripe_connect
        ledger_stripe_connect()
        # The marketplace's orders: partners' payouts, platform fees, reversals on refunds.
        from intelligence.services.ledger_marketplace import ledger_marketplace_connect
        ledger_marketplace_connect()
        schedule_daily(app_config=self, name="intelligence.autoscale_purge", func="intelligence.tasks.autoscale_purge",
                       at=time(3, 40))
        # Money (issue 11): the day's discount, and the month's price suggestion (its first daily run computes).
        schedule_daily(app_config=self, name="intelligence.discounts", func="intelligence.tasks.discounts_daily",
                       at=time(0, 30))
        schedule_daily(app_config=self, name="intelligence.pricing", func="intelligence.tasks.pricing_monthly",
                       at=time(1, 15))
        self._ready_growth()
        self._ready_notion()
        # Issue 13 §4: the whole stack checked end to end once a day, with a PDF as evidence.
        schedule_daily(app_config=self, name="intelligence.integrity_check",
                       func="intelligence.tasks.integrity_check_run", at=time(5, 30))
        self._ready_reports()

        self._ready_flags_and_stabilize()
        from intelligence.services.webhook_alerts import webhook_alerts_connect
        webhook_alerts_connect()
        from intelligence.services.billing_alerts import billing_alerts_connect
        billing_alerts_connect()

    def _ready_growth(self):
        """The growth funnel: signups (accounts' post_save) and first payments (billing's signal)
        recorded; retention at 00:05 UTC and growth by source at 00:10 UTC, each over the trailing days
        ending yesterday (late revenue from the 01:00 ledger reconcile lands the next night)."""
        from intelligence.services.growth import growth_connect
        from levqor.schedules import schedule_daily

        growth_connect()
        schedule_daily(app_config=self, name="intelligence.retention_aggregate",
                       func="intelligence.tasks.retention_aggregate", at=time(0, 5))
        schedule_daily(app_config=self, name="intelligence.growth_aggregate",
                       func="intelligence.tasks.growth_aggregate", at=time(0, 10))

    def _ready_notion(self):
        """The Notion sync (intelligence.services.notion): health every 6 h, the ledger's costs after the
        01:00 reconcile, the partner registry, catalog and audits hourly (the pulse's Friday 14:00
        London schedule is with the other London-time ones). /status says whether Notion is configured."""
        from intelligence.services.notion import notion_status
        from levqor.health import register_status_info
        from levqor.schedules import schedule_daily, schedule_every

        schedule_every(app_config=self, name="intelligence.notion_sync_health",
                       func="intelligence.tasks.notion_sync_health", minutes=360)
        schedule_daily(app_config=self, name="intelligence.notion_sync_costs",
                       func="intelligence.tasks.notion_sync_costs", at=time(1, 30))
        schedule_every(app_config=self, name="intelligence.notion_sync_registry",
                       func="intelligence.tasks.notion_sync_registry", minutes=60)
        register_status_info("notion", notion_status)

    def _ready_reports(self):
        """Issue 13's emails and pulses at London time (REPORTS_TIME_ZONE), kept there across DST:
        the daily ops summary, the weekly report (part A), the Notion pulse (part C)."""
        from django.conf import settings

        from levqor.schedules import schedule_local

        tz = settings.REPORTS_TIME_ZONE
        schedule_local(app_config=self, name="intelligence.ops_summary_email", func="intelligence.tasks.ops_summary_email",
                       at=time(9, 0), tz=tz)
        schedule_local(app_config=self, name="intelligence.weekly_report_email",
                       func="intelligence.tasks.weekly_report_email", at=time(9, 0), tz=tz, weekday=6)
        schedule_local(app_config=self, name="intelligence.notion_sync_pulse", func="intelligence.tasks.notion_sync_pulse",
                       at=time(14, 0), tz=tz, weekday=4)

    def _ready_flags_and_stabilize(self):
        """Flags and switches audited on every change; stabilize mode recorded and alerted however
        its switch is turned; the pause of low priority and intake's queue limit told to jobs."""
        from intelligence.services.flag_audit import flag_audit_connect, flag_changed
        from intelligence.services.ops_hooks import ops_hooks_register
        from intelligence.services.stabilize import stabilize_switch_changed

        flag_audit_connect()
        flag_changed.connect(stabilize_switch_changed, dispatch_uid="stabilize-switch-changed")
        ops_hooks_register()
