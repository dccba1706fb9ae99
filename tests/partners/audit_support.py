"""Helpers of the audit and review-cycle tests: an approved partner with a webhook endpoint, and a
receiving server that verifies Standard Webhooks signatures the way a real receiver does."""

from decimal import Decimal

from levqor.webhooks.models import WebhookEndpoint
from levqor.webhooks.signing import webhook_verify
from partners.models import Partner
from partners.services.status import partner_status_change
from tests.factories import UserFactory

PARTNER_EVENTS = ["partner.verified", "partner.suspended", "review.due", "audit.completed"]


def partner_approved(*, url: str | None = "https://acme.test/hooks", name: str = "Acme", **fields) -> Partner:
    """A partner approved by the review service (next review due after the policy's interval), with a
    partner webhook endpoint at `url` subscribed to every partner event (None: no endpoint)."""
    owner = UserFactory()
    partner = Partner.objects.create(owner=owner, name=name, email=f"ops@{name.lower()}.test",
                                     webhook_url=url or "https://acme.test/hooks", revenue_share=Decimal("0.7"),
                                     **fields)
    if url:
        WebhookEndpoint.objects.create(owner=owner, audience="partner", url=url, event_types=PARTNER_EVENTS)
    partner_status_change(partner=partner, action="approve", actor=None, reason="Checked by the test")
    partner.refresh_from_db()
    return partner


def receiver_verifying(recorder, secret: str, *, refused=401):
    """Make the fake server answer like a receiver that checks signatures: 200 for a message signed
    with `secret`, `refused` for anything else."""
    def next_response():
        request = recorder.requests[-1]
        ok = webhook_verify(secret=secret, headers=request["headers"], body=request["body"])
        return (200, {"received": True}) if ok else (refused, {"error": "bad signature"})
    recorder.next_response = next_response
    return recorder
