from django.apps import AppConfig


class IntelligenceConfig(AppConfig):
    """The operations back-office: flags and stabilize mode, metrics, anomalies, alerts,
    incidents, auto-tune. It reads every app and owns nothing of theirs (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "intelligence"
    verbose_name = "Operations"

    def ready(self):
        from levqor.schedules import schedule_every

        # Alert deliveries whose task was lost are handed to the workers again.
        schedule_every(app_config=self, name="intelligence.alert_deliveries_sweep",
                       func="intelligence.tasks.alert_deliveries_sweep", minutes=2)
