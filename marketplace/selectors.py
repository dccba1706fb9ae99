"""Reads of billing that more than one caller needs: the paid tiers and their active prices, the
statuses that entitle a tier, and the billing health report."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from accounts.models import User
from marketplace.models import Order, Payout, StripeEvent, TierPrice
from marketplace.stripe_api import stripe_configured

# Stripe subscription statuses under which the subscribed tier is held (past_due: while the grace
# period of a failed payment runs; marketplace.services.billing_events decides when it ends).
ENTITLING_STATUSES = ("active", "trialing", "past_due")
# Tiers from the cheapest up: an upgrade is a move to the right.
TIER_ORDER = (User.Tier.SANDBOX, User.Tier.PRO, User.Tier.ENTERPRISE)


def tier_rank(tier: str) -> int:
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else 0


def paid_tiers() -> list[str]:
    """The tiers sold through Stripe: those with a price in TIER_PRICES_MINOR."""
    return [tier for tier in TIER_ORDER if tier in settings.TIER_PRICES_MINOR]


def tier_lookup_key(tier: str) -> str:
    """The Stripe Price lookup key of a tier's monthly price (levqor_pro_monthly)."""
    return f"levqor_{tier}_monthly"


def tier_price_active(*, tier: str, livemode: bool) -> TierPrice | None:
    return TierPrice.objects.filter(tier=tier, livemode=livemode, active=True).first()


def tier_for_price(*, price_id: str, lookup_key: str = "") -> str:
    """The tier a Stripe price sells: its lookup key (levqor_<tier>_monthly), else a TierPrice row
    we recorded for it (active or not: old subscriptions keep old prices), else ""."""
    for tier in paid_tiers():
        if lookup_key and lookup_key == tier_lookup_key(tier):
            return tier
    if price_id:
        found = TierPrice.objects.filter(stripe_price_id=price_id).values_list("tier", flat=True).first()
        if found:
            return found
    return ""


def billing_health(*, now=None) -> dict:
    """Billing as it is, from real state, never a secret: which keys and webhook secrets are set
    (booleans), the last webhook event received, events by status over 24 h, the last failure,
    and which paid tiers have an active price per mode. Four queries.

    `healthy` (the original service's contract, with `stripe_key_configured` = the live key and
    `webhook_secret_configured`): the live key and a webhook secret are set and no event failed
    (its attempts spent) in the last 24 h; `problems` says what is not (never a secret)."""
    now = now or timezone.now()
    since = now - timedelta(hours=24)
    counts = dict(StripeEvent.objects.filter(received_at__gte=since).values_list("status")
                  .annotate(n=Count("id")).values_list("status", "n"))
    last_received = StripeEvent.objects.aggregate(at=Max("received_at"))["at"]
    failure = (StripeEvent.objects.filter(status=StripeEvent.Status.FAILED).order_by("-processed_at", "-received_at")
               .values("id", "type", "last_error", "processed_at", "received_at").first())
    synced = {(tier, livemode) for tier, livemode in
              TierPrice.objects.filter(active=True).values_list("tier", "livemode")}
    live_key = stripe_configured(livemode=True)
    webhook_secret = bool(settings.STRIPE_WEBHOOK_SECRETS)
    failed_at = None if failure is None else failure["processed_at"] or failure["received_at"]
    problems = [text for wrong, text in (
        (not live_key, "STRIPE_SECRET_KEY is not set"),
        (not webhook_secret, "STRIPE_WEBHOOK_SECRET is not set"),
        (failed_at is not None and failed_at >= since, "a Stripe event failed in the last 24 h (see last_failure)"),
    ) if wrong]
    return {
        "healthy": not problems,
        "problems": problems,
        "stripe_key_configured": live_key,
        "live_key_configured": live_key,
        "live_key_is_test_key": live_key and settings.STRIPE_SECRET_KEY.startswith("sk_test_"),
        "test_key_configured": stripe_configured(livemode=False),
        "webhook_secret_configured": webhook_secret,
        "last_webhook_received_at": last_received,
        "events_24h": {status: counts.get(status, 0) for status in StripeEvent.Status.values},
        "last_failure": None if failure is None else {
            "event": failure["id"], "type": failure["type"], "error": failure["last_error"][:500],
            "at": failed_at},
        "tier_prices_synced": {
            "live": {tier: (tier, True) in synced for tier in paid_tiers()},
            "test": {tier: (tier, False) in synced for tier in paid_tiers()},
        },
    }


# --- partners' payouts ---------------------------------------------------------------------------

def payouts_of(partner, *, livemode: bool | None = None):
    """A partner's payouts, newest first, with their orders' listings."""
    payouts = Payout.objects.filter(partner=partner).select_related("order__listing")
    return payouts if livemode is None else payouts.filter(livemode=livemode)


def orders_awaiting_payout(partner, *, livemode: bool | None = None):
    """A partner's completed orders with a share still to be paid (due or in their hold), oldest
    due first: no payout yet, or one not paid."""
    orders = (Order.objects.filter(partner=partner, status=Order.Status.COMPLETED, partner_share_minor__gt=0,
                                   refunded_at__isnull=True)
              .filter(Q(payout__isnull=True) | ~Q(payout__status=Payout.Status.PAID))
              .select_related("listing", "payout").order_by("payout_due_at", "pk"))
    return orders if livemode is None else orders.filter(livemode=livemode)
