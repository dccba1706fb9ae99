from django.apps import AppConfig

DASHBOARD_COMPACT_SCHEDULE = "intelligence.dashboard_compact"


class IntelligenceConfig(AppConfig):
    """The operations back-office: flags and stabilize mode, metrics, anomalies, alerts,
    incidents, auto-tune. It reads every app and owns nothing of theirs (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "intelligence"
    verbose_name = "Operations"

    def ready(self):
        from levqor.schedules import schedule_every

        # The operations dashboard's quarter-hour spans (intelligence.services.metric_spans).
        schedule_every(app_config=self, name=DASHBOARD_COMPACT_SCHEDULE, func="intelligence.tasks.dashboard_compact",
                       minutes=5)
