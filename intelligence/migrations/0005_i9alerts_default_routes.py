"""The routes a fresh install starts with, for admins to edit: critical to every channel, warning
to email and Slack, info nowhere (kept in admin only)."""

from django.db import migrations

DEFAULT_ROUTES = [
    ("Critical and warning to email", ["critical", "warning"], "email"),
    ("Critical and warning to Slack", ["critical", "warning"], "slack"),
    ("Critical to Telegram", ["critical"], "telegram"),
    ("Critical to the signed webhook", ["critical"], "webhook"),
]


def routes_add(apps, schema_editor):
    AlertRoute = apps.get_model("intelligence", "AlertRoute")
    for name, severities, channel in DEFAULT_ROUTES:
        AlertRoute.objects.get_or_create(name=name, defaults={"severities": severities, "channel": channel})


def routes_remove(apps, schema_editor):
    AlertRoute = apps.get_model("intelligence", "AlertRoute")
    AlertRoute.objects.filter(name__in=[name for name, _, _ in DEFAULT_ROUTES]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("intelligence", "0004_i9alerts_models"),
    ]

    operations = [
        migrations.RunPython(routes_add, routes_remove),
    ]
