"""The reference governance policy as version 1 (original-behaviour.md §6)."""

from decimal import Decimal

from django.db import migrations


def policy_v1(apps, schema_editor):
    PolicyVersion = apps.get_model("partners", "PolicyVersion")
    if not PolicyVersion.objects.exists():
        PolicyVersion.objects.create(
            version=1, revenue_share_default=Decimal("0.700"), approval_required=True, review_interval_days=90,
            review_overdue_days=14, forbidden_paths=["/auth/root", "/internal/", "/admin/", "/ops/"],
            listing_price_min_minor=0, listing_price_max_minor=99999, https_required=True,
            webhook_timeout_seconds=5, suspend_failed_webhooks=10, suspend_user_reports=5,
            suspend_rating_below=Decimal("2.00"), reason="The reference governance policy.")


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]
    operations = [migrations.RunPython(policy_v1, migrations.RunPython.noop)]
