# The credential's secret fields now come from levqor.rotating_secret.RotatingSecret (not editable in forms): no SQL.

import levqor.crypto
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('partners', '0006_credentials'),
    ]

    operations = [
        migrations.AlterField(
            model_name='partnercredential',
            name='previous_secret',
            field=levqor.crypto.EncryptedSecretField(blank=True, default='', editable=False),
        ),
        migrations.AlterField(
            model_name='partnercredential',
            name='previous_secret_expires_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='partnercredential',
            name='secret',
            field=levqor.crypto.EncryptedSecretField(blank=True, default='', editable=False),
        ),
    ]
