"""The partners foundation: the shipped policy, versions, status changes with their trail and
notifications, and secrets encrypted at rest."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection

from levqor.crypto import secret_decrypt
from levqor.errors import AppError
from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from partners.models import Partner, PartnerReviewEvent, PolicyVersion
from partners.services.policy import policy_current, policy_version_create
from partners.services.status import partner_status_change
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def staff(operator):
    return operator.user


def test_the_reference_policy_ships_as_version_1():
    policy = policy_current()
    assert policy.version == 1
    assert policy.revenue_share_default == Decimal("0.700")
    assert policy.forbidden_paths == ["/auth/root", "/internal/", "/admin/", "/ops/"]
    assert (policy.review_interval_days, policy.webhook_timeout_seconds, policy.suspend_failed_webhooks,
            policy.suspend_user_reports, policy.suspend_rating_below) == (90, 5, 10, 5, Decimal("2.00"))


def test_a_new_policy_version_changes_only_what_it_names_and_needs_a_reason(staff):
    with pytest.raises(AppError) as refused:
        policy_version_create(actor=staff, reason=" ", review_interval_days=60)
    assert refused.value.details == {"field": "reason"}
    v2 = policy_version_create(actor=staff, reason="Quarterly is too slow", review_interval_days=60)
    assert v2.version == 2 and v2.review_interval_days == 60 and v2.suspend_user_reports == 5
    assert policy_current().version == 2
    assert PolicyVersion.objects.get(version=1).review_interval_days == 90  # never edited in place


def _partner(**kwargs) -> Partner:
    owner = kwargs.pop("owner", None) or UserFactory()
    return Partner.objects.create(owner=owner, name="Acme", email="ops@acme.test", webhook_url="https://acme.test/h",
                                  revenue_share=Decimal("0.7"), **kwargs)


def test_approval_is_recorded_told_by_email_and_by_webhook(staff, django_capture_on_commit_callbacks):
    partner = _partner()
    endpoint = WebhookEndpoint.objects.create(owner=partner.owner, audience="partner", url="https://acme.test/h",
                                              event_types=["partner.verified", "partner.suspended"])
    with django_capture_on_commit_callbacks(execute=False):
        event = partner_status_change(partner=partner, action="approve", actor=staff, reason="Looks right")
    partner.refresh_from_db()
    assert partner.status == "approved" and partner.verified_at and partner.next_review_at
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        "pending_approval", "approved", staff, "Looks right")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.event_type == "partner.verified" and '"reason":"Looks right"' in delivery.body


def test_the_email_goes_after_the_commit(staff, django_capture_on_commit_callbacks):
    partner = _partner()
    with django_capture_on_commit_callbacks(execute=True):
        partner_status_change(partner=partner, action="reject", actor=staff, reason="Incomplete")
    assert mail.outbox[-1].to == ["ops@acme.test"] and "Incomplete" in mail.outbox[-1].body


@pytest.mark.parametrize("status, action", [("suspended", "approve"), ("approved", "reinstate"),
                                            ("rejected", "suspend")])
def test_a_transition_the_status_does_not_allow_is_refused(status, action, staff):
    partner = _partner(status=status)
    with pytest.raises(AppError) as refused:
        partner_status_change(partner=partner, action=action, actor=staff, reason="x")
    assert refused.value.code == "partner_transition_not_allowed"
    assert not PartnerReviewEvent.objects.exists()


def test_webhook_secrets_are_encrypted_at_rest():
    endpoint = WebhookEndpoint.objects.create(owner=UserFactory(), url="https://a.test/h", event_types=[])
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk.hex
                       if connection.vendor == "sqlite" else endpoint.pk])
        stored = cursor.fetchone()[0]
    assert endpoint.secret.startswith("whsec_") and endpoint.secret not in stored
    assert secret_decrypt(stored) == endpoint.secret
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret
