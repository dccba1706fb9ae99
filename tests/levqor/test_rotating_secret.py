"""One rotation with an overlap (levqor.rotating_secret) for every secret that rotates: webhook
endpoints, account signing secrets and partner credentials."""

from datetime import timedelta

import pytest
from django.utils import timezone

from levqor.rotating_secret import ROTATION_FIELDS, RotatingSecret, secret_rotate
from levqor.webhooks.endpoints import webhook_endpoint_secret_rotate
from levqor.webhooks.models import WebhookEndpoint, WebhookSigningSecret
from partners.models import PartnerCredential
from partners.services.credentials import credential_rotate
from tests.factories import UserFactory
from tests.partners.signed_support import credential_make

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


@pytest.mark.parametrize("model", [WebhookEndpoint, WebhookSigningSecret, PartnerCredential])
def test_every_rotating_secret_is_the_one_model(model):
    assert issubclass(model, RotatingSecret)
    for name in ROTATION_FIELDS:
        assert model._meta.get_field(name).model is model  # the abstract base's fields, on each table


def test_a_rotation_keeps_the_previous_secret_for_the_overlap_only(clock):
    holder = PartnerCredential(secret="first")
    secret_rotate(holder, new_secret="second", overlap=HOUR)
    assert holder.valid_secrets() == ["second", "first"] and holder.rotated_at is not None
    assert holder.overlap_ends_at() == holder.previous_secret_expires_at
    clock.advance(3601)
    assert holder.valid_secrets() == ["second"] and holder.overlap_ends_at() is None


def test_a_rotation_without_overlap_and_a_second_rotation_end_the_previous_secret_now():
    holder = WebhookSigningSecret(secret="first")
    secret_rotate(holder, new_secret="second", overlap=HOUR)
    secret_rotate(holder, new_secret="third", overlap=HOUR)
    assert holder.signing_secrets() == ["third", "second"]  # one previous secret at a time
    secret_rotate(holder, new_secret="fourth", overlap=timedelta(0))
    assert holder.signing_secrets() == ["fourth"] and holder.previous_secret_expires_at is None


@pytest.mark.parametrize("overlap", [timedelta(seconds=-1), timedelta(days=7, seconds=1)])
def test_an_overlap_out_of_bounds_is_refused(overlap):
    with pytest.raises(ValueError, match="overlap"):
        secret_rotate(PartnerCredential(secret="first"), new_secret="second", overlap=overlap)


def test_endpoints_and_credentials_rotate_through_it():
    endpoint = WebhookEndpoint.objects.create(owner=UserFactory(), url="https://hooks.example/a", event_types=[])
    old = endpoint.secret
    new = webhook_endpoint_secret_rotate(endpoint=endpoint, overlap_hours=1)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).signing_secrets() == [new, old]
    credential, secret = credential_make()
    rotated = credential_rotate(credential=credential, overlap_seconds=3600)
    stored = PartnerCredential.objects.get(pk=credential.pk)
    assert stored.verifying_secrets() == [rotated.secret, secret]
    assert stored.overlap_ends_at() > timezone.now()
