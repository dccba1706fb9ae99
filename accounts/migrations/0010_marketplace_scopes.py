"""Keys that hold every customer scope of before (jobs, users, webhooks, partners, billing) do all a
customer does, which now includes buying marketplace listings (POST /api/v1/marketplace/listings/
<id>/purchase) and reading one's orders: they get marketplace:read and marketplace:write too.
Narrower keys stay narrow, as in 0006 and 0009."""

from django.db import migrations

OLD_DEFAULT = {"jobs:read", "jobs:write", "users:read", "users:write", "webhooks:read", "webhooks:write",
               "partners:read", "partners:write", "billing:write"}
NEW = ("marketplace:read", "marketplace:write")


def widen(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    for key in ApiKey.objects.all().only("pk", "scopes").iterator():
        scopes = list(key.scopes or [])
        if OLD_DEFAULT <= set(scopes) and not set(NEW) <= set(scopes):
            ApiKey.objects.filter(pk=key.pk).update(scopes=[*scopes, *[s for s in NEW if s not in scopes]])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0009_billing_scope")]
    operations = [migrations.RunPython(widen, migrations.RunPython.noop)]
