from django.apps import AppConfig

SWEEP_SCHEDULE_NAME = "webhooks.deliveries_sweep"


class WebhooksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "levqor.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks"

    def ready(self):
        from levqor.schedules import schedule_every

        schedule_every(app_config=self, name=SWEEP_SCHEDULE_NAME, func="levqor.webhooks.tasks.webhook_deliveries_sweep",
                       minutes=2)
