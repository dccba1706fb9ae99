"""Partners for the governance tests: approved through the status service (as staff would), so
verified_at and the review trail are what the product leaves."""

from decimal import Decimal

from partners.models import Partner
from partners.services.status import partner_status_change
from tests.factories import UserFactory


def partner_make(*, status: str = "approved", owner=None, name: str = "Acme Data") -> Partner:
    owner = owner or UserFactory(terms_accepted=True)
    partner = Partner.objects.create(owner=owner, name=name, email=f"partner-{owner.pk}@acme.test",
                                     webhook_url="https://acme.test/hooks", revenue_share=Decimal("0.700"))
    if status != "pending_approval":
        partner_status_change(partner=partner, action="approve" if status != "rejected" else "reject", actor=None,
                              reason="Set up by the test")
    if status == "suspended":
        partner_status_change(partner=partner, action="suspend", actor=None, reason="Set up by the test")
    partner.refresh_from_db()
    return partner
