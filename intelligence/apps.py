from django.apps import AppConfig

METRICS_ROLLUP_SCHEDULE = "intelligence.rollup"
METRICS_PURGE_SCHEDULE = "intelligence.metrics_purge"


class IntelligenceConfig(AppConfig):
    """The operations back-office: flags and stabilize mode, metrics, anomalies, alerts,
    incidents, auto-tune. It reads every app and owns nothing of theirs (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "intelligence"
    verbose_name = "Operations"

    def ready(self):
        from intelligence.services.metrics import metric_shards_write
        from levqor.metrics import metrics_sink_register
        from levqor.schedules import schedule_every

        # Live metrics: the embedded mode's processes send finished minutes to our table; the rollup
        # adds them up every minute, the purge keeps METRICS_RETENTION_DAYS.
        metrics_sink_register(metric_shards_write)
        schedule_every(app_config=self, name=METRICS_ROLLUP_SCHEDULE, func="intelligence.tasks.metrics_rollup",
                       minutes=1)
        schedule_every(app_config=self, name=METRICS_PURGE_SCHEDULE, func="intelligence.tasks.metrics_purge",
                       minutes=24 * 60)
