"""Set-up of the payouts tests: completed orders written with the ORM (as the buying part leaves
them: charge id, split, payout_due_at), partners' connected accounts, Connect events."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from marketplace.models import ConnectAccount, Order
from partners.models import Partner
from tests.fake_stripe import stripe_event
from tests.marketplace.store_support import listing_make
from tests.partners.governance_support import partner_make


def order_make(*, partner: Partner | None = None, amount_minor: int = 1000, share: str = "0.700",
               livemode: bool = True, status: str = Order.Status.COMPLETED, completed_at=None,
               charge_id: str | None = None, currency: str = "usd", **fields) -> Order:
    """A completed paid order of a listing of `partner` (an approved one made if not given), its
    hold ending PAYOUT_HOLD_DAYS after completed_at (now by default)."""
    listing = listing_make(partner=partner, amount_minor=amount_minor, currency=currency)
    completed_at = completed_at or timezone.now()
    partner_share = int(amount_minor * Decimal(share))
    return Order.objects.create(
        listing=listing, partner=listing.partner, livemode=livemode, status=status, amount_minor=amount_minor,
        currency=currency, revenue_share=Decimal(share), partner_share_minor=partner_share,
        platform_fee_minor=amount_minor - partner_share, charge_id="" if charge_id == "" else (
            charge_id or f"ch_{listing.slug}"), completed_at=completed_at,
        payout_due_at=completed_at + timedelta(days=settings.PAYOUT_HOLD_DAYS), **fields)


def account_make(partner: Partner, *, livemode: bool = True, payouts_enabled: bool = True,
                 stripe_account_id: str | None = None, fake=None) -> ConnectAccount:
    """A partner's connected account as onboarding leaves it; also seeded in the fake when given."""
    stripe_id = stripe_account_id or f"acct_{partner.pk.hex[:12]}{'' if livemode else 't'}"
    if fake is not None:
        fake.put("accounts", {"id": stripe_id, "type": "express", "payouts_enabled": payouts_enabled,
                              "charges_enabled": payouts_enabled, "details_submitted": payouts_enabled})
    return ConnectAccount.objects.create(partner=partner, livemode=livemode, stripe_account_id=stripe_id,
                                         payouts_enabled=payouts_enabled, details_submitted=payouts_enabled)


def account_updated_event(account_id: str, *, payouts_enabled: bool, currently_due=(), created: int | None = None,
                          livemode: bool = True) -> dict:
    """account.updated as Stripe sends it to a Connect endpoint: the account as the object, and its
    id at the top level (`account`)."""
    event = stripe_event("account.updated", {
        "id": account_id, "object": "account", "type": "express", "payouts_enabled": payouts_enabled,
        "charges_enabled": payouts_enabled, "details_submitted": payouts_enabled,
        "requirements": {"currently_due": list(currently_due), "eventually_due": [], "past_due": []}},
        created=created, livemode=livemode)
    event["account"] = account_id
    return event


__all__ = ["account_make", "account_updated_event", "order_make", "partner_make"]
