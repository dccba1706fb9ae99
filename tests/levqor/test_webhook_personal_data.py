"""An account's webhooks in its data export (never a secret) and gone with its erasure."""

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from accounts.personal_data import personal_data_erase, personal_data_export
from levqor.webhooks.delivery import signing_secret_for
from levqor.webhooks.endpoints import webhook_endpoint_create
from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookSigningSecret
from levqor.webhooks.services import webhook_event_emit

pytestmark = pytest.mark.django_db


def test_export_lists_endpoints_and_deliveries_without_secrets_and_erasure_deletes_them(user):
    endpoint = webhook_endpoint_create(owner=user, url="https://hooks.example.org/alice", event_types=["job.completed"])
    webhook_event_emit(owner=user, audience="account", event_type="job.completed", data={"email": "alice@example.org"})
    secret = signing_secret_for(owner=user).secret
    exported = personal_data_export(user=user)["webhooks"]
    assert [e["url"] for e in exported["endpoints"]] == [endpoint.url]
    assert "alice@example.org" in exported["deliveries"][0]["body"]
    text = json.dumps(exported, cls=DjangoJSONEncoder)
    assert endpoint.secret not in text and secret not in text and "whsec_" not in text

    personal_data_erase(user=user, actor=None, ip=None)
    assert not WebhookEndpoint.objects.filter(owner=user).exists()
    assert not WebhookDelivery.objects.filter(owner=user).exists()
    assert not WebhookSigningSecret.objects.filter(owner=user).exists()
