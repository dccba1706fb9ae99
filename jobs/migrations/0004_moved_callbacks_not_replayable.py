"""Job callbacks moved by 0003_callbacks_to_webhooks carry a placeholder body (the old table kept no
bodies): mark them not replayable, so a replay refuses them rather than send the placeholder under
the old message id. 0003 itself is not changed (it may have run); this marks what it made, by the
note it left in the body."""

from django.db import migrations

PLACEHOLDER = "moved to the webhook engine; body not stored"  # 0003's note in a moved body


def forward(apps, schema_editor):
    WebhookDelivery = apps.get_model("webhooks", "WebhookDelivery")
    WebhookDelivery.objects.filter(endpoint__isnull=True, source__startswith="jobs.job:",
                                   body__contains=PLACEHOLDER).update(replayable=False)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0003_callbacks_to_webhooks"),
        ("webhooks", "0002_delivery_replayable_and_once_per_owner_url"),
    ]

    operations = [
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
