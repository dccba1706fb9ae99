from django.apps import AppConfig


class IntelligenceConfig(AppConfig):
    """The operations back-office: flags and stabilize mode, metrics, anomalies, alerts,
    incidents, auto-tune. It reads every app and owns nothing of theirs (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "intelligence"
    verbose_name = "Operations"
