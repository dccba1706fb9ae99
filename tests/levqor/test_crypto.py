"""Secrets at rest: Fernet tokens in the column, plain text in Python, and key rotation by
`manage.py secrets_reencrypt` (a new key first, every row rewritten, then the old key can go)."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from levqor.crypto import SecretUnreadable, secret_decrypt
from levqor.webhooks.models import WebhookEndpoint, WebhookSigningSecret
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def _raw(model, pk, column="secret") -> str:
    with connection.cursor() as cursor:
        value = pk.hex if connection.vendor == "sqlite" and hasattr(pk, "hex") else pk
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [value])  # noqa: S608
        return cursor.fetchone()[0]


def test_a_new_key_first_and_reencrypt_lets_the_old_key_go(settings, capsys):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    user = UserFactory()
    endpoint = WebhookEndpoint.objects.create(owner=user, url="https://a.test/h", event_types=["job.completed"])
    signing = WebhookSigningSecret.objects.create(owner=user)
    plain = (endpoint.secret, signing.secret)

    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    call_command("secrets_reencrypt")
    out = capsys.readouterr().out
    assert "webhooks.WebhookEndpoint: 1 row re-encrypted" in out and "Done:" in out

    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key dropped: everything still reads
    assert (WebhookEndpoint.objects.get(pk=endpoint.pk).secret, WebhookSigningSecret.objects.get(pk=signing.pk).secret) \
        == plain
    assert secret_decrypt(_raw(WebhookEndpoint, endpoint.pk)) == plain[0]
    assert plain[0] not in _raw(WebhookEndpoint, endpoint.pk)


def test_dropping_a_key_too_early_is_refused_by_name(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    WebhookEndpoint.objects.create(owner=UserFactory(), url="https://a.test/h", event_types=["job.completed"])
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(SecretUnreadable):
        WebhookEndpoint.objects.get()
    with pytest.raises(CommandError, match="WebhookEndpoint.*FIELD_ENCRYPTION_KEYS"):
        call_command("secrets_reencrypt")
