"""Keys that hold every customer scope of before (jobs and users, read and write) were made to do
all a customer does: they get the webhooks and partners scopes too. Narrower keys stay narrow."""

from django.db import migrations

OLD_DEFAULT = {"jobs:read", "jobs:write", "users:read", "users:write"}
NEW = ["webhooks:read", "webhooks:write", "partners:read", "partners:write"]


def widen(apps, schema_editor):
    ApiKey = apps.get_model("accounts", "ApiKey")
    for key in ApiKey.objects.all().only("pk", "scopes").iterator():
        scopes = list(key.scopes or [])
        if OLD_DEFAULT <= set(scopes):
            missing = [scope for scope in NEW if scope not in scopes]
            if missing:
                ApiKey.objects.filter(pk=key.pk).update(scopes=scopes + missing)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_currency_labels")]
    operations = [migrations.RunPython(widen, migrations.RunPython.noop)]
