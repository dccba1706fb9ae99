"""Keys that hold every customer scope of before (jobs, users, webhooks, partners) do all a customer
does, which now includes starting a subscription (POST /api/v1/billing/checkout, /portal): they get
billing:write too. Narrower keys stay narrow, as in 0006."""

from django.db import migrations

OLD_DEFAULT = {"jobs:read", "jobs:write", "users:read", "users:write", "webhooks:read", "webhooks:write",
               "partners:read", "partners:write"}
NEW = "billing:write"


def widen(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    for key in ApiKey.objects.all().only("pk", "scopes").iterator():
        scopes = list(key.scopes or [])
        if OLD_DEFAULT <= set(scopes) and NEW not in scopes:
            ApiKey.objects.filter(pk=key.pk).update(scopes=[*scopes, NEW])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0008_tier_change")]
    operations = [migrations.RunPython(widen, migrations.RunPython.noop)]
