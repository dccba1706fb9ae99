"""Reads of adaptive pricing and discounts for the operator API: the pro tier's price now, the
latest price suggestions, and the recent discount codes with their redemptions (counted in SQL)."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from intelligence.known_flags import PRICING_AUTO_APPLY
from intelligence.models import DiscountSuggestion, PriceSuggestion
from intelligence.services.flags import flag_active
from intelligence.services.pricing import TIER
from marketplace.models import CheckoutSession
from marketplace.services.prices import tier_price_current_minor
from marketplace.stripe_api import stripe_configured

SUGGESTIONS_LISTED = 12
DISCOUNT_DAYS_LISTED = 30


def pricing_overview() -> dict:
    """{tier, current: {amount_minor, currency, source}, auto_apply, stripe_configured, suggestions:
    the latest SUGGESTIONS_LISTED, newest first}."""
    amount, currency, source = tier_price_current_minor(tier=TIER, livemode=True)
    suggestions = [{
        "id": s.pk, "created_at": s.created_at, "status": s.status, "trigger": s.trigger, "currency": s.currency,
        "suggested_minor": s.suggested_minor, "current_minor": s.current_minor, "inputs": s.inputs,
        "formula": s.formula, "stripe_price_id": s.stripe_price_id, "note": s.note,
    } for s in PriceSuggestion.objects.filter(tier=TIER).order_by("-created_at")[:SUGGESTIONS_LISTED]]
    return {"tier": TIER, "current": {"amount_minor": amount, "currency": currency, "source": source},
            "auto_apply": flag_active(PRICING_AUTO_APPLY), "stripe_configured": stripe_configured(livemode=True),
            "suggestions": suggestions}


def discounts_recent(*, now=None) -> list[dict]:
    """The discounts of the last DISCOUNT_DAYS_LISTED days, newest first, each with whether checkout
    honours its code now and how many completed checkouts used it. One query."""
    now = now or timezone.now()
    completed = Q(promotion_code__checkout_sessions__status=CheckoutSession.Status.COMPLETE)
    rows = (DiscountSuggestion.objects.filter(day__gte=(now - timedelta(days=DISCOUNT_DAYS_LISTED)).date())
            .select_related("promotion_code").annotate(redeemed=Count("promotion_code__checkout_sessions",
                                                                      filter=completed)).order_by("-day"))
    return [{
        "day": d.day, "code": d.promotion_code.code, "reason": d.reason, "percent_off": d.percent_off,
        "valid_until": d.valid_until, "status": d.status,
        "honoured": d.promotion_code.active and d.valid_until > now, "redemptions": d.redeemed, "inputs": d.inputs,
        "stripe_promotion_code_id": d.promotion_code.stripe_promotion_code_id, "note": d.note,
    } for d in rows]
