"""A paid tier's price for new subscriptions: which one is active, and publishing a new one.

tier_price_publish() creates a Stripe Price on the tier's product with the tier's lookup key and
`transfer_lookup_key=true` (Stripe moves the key from the old Price to the new one), then makes
the new TierPrice row the active one and the old one inactive. Existing subscriptions are not
touched: they keep the Price they were sold at (Stripe keeps the old Price active for them).
The Stripe call comes first, with an idempotency key from the caller, so a retry after a crash
gets the same Price back and adds no second row."""

from django.conf import settings
from django.db import IntegrityError, transaction

from levqor.errors import AppError, ErrorCode
from marketplace.models import TierPrice
from marketplace.stripe_api import stripe_client, stripe_errors


def tier_price_active(*, tier: str, livemode: bool = True) -> TierPrice | None:
    """The tier's active price in this mode (what a new subscription gets), or None before
    stripe_sync_products made one."""
    return TierPrice.objects.filter(tier=tier, livemode=livemode, active=True).first()


def tier_price_current_minor(*, tier: str, livemode: bool = True) -> tuple[int | None, str, str]:
    """(amount_minor, currency, where from) of the tier's price for new subscriptions: the active
    TierPrice, else the configured TIER_PRICES_MINOR (before any sync), else None."""
    active = tier_price_active(tier=tier, livemode=livemode)
    if active is not None:
        return active.amount_minor, active.currency.lower(), f"stripe price {active.stripe_price_id}"
    configured = settings.TIER_PRICES_MINOR.get(tier)
    return configured, settings.BILLING_CURRENCY.lower(), "settings.TIER_PRICES_MINOR (no price synced)"


def tier_price_publish(*, tier: str, amount_minor: int, currency: str, idempotency_key: str,
                       livemode: bool = True) -> TierPrice:
    """The tier's new price for new subscriptions: a Stripe Price (monthly, on the active price's
    product, taking its lookup key) and its TierPrice row, active (source "pricing"); the previous
    active row becomes inactive. billing_not_configured without a Stripe key for the mode;
    tier_price_missing before stripe_sync_products made the tier's first price."""
    client = stripe_client(livemode=livemode)  # billing_not_configured before anything else
    current = tier_price_active(tier=tier, livemode=livemode)
    if current is None:
        raise AppError(ErrorCode.TIER_PRICE_MISSING,
                       f"The {tier} tier has no active Stripe price yet: run manage.py stripe_sync_products first.",
                       details={"tier": tier, "livemode": livemode})
    with stripe_errors():
        price = client.v1.prices.create(params={
            "product": current.stripe_product_id, "unit_amount": int(amount_minor), "currency": currency.lower(),
            "recurring": {"interval": "month"}, "lookup_key": current.lookup_key, "transfer_lookup_key": True,
            "metadata": {"levqor_tier": tier, "levqor_source": TierPrice.Source.PRICING},
        }, options={"idempotency_key": idempotency_key})
    existing = TierPrice.objects.filter(stripe_price_id=price.id).first()
    if existing is not None:  # a retry of the same publish: Stripe answered the same Price
        return existing
    try:
        with transaction.atomic():
            previous = list(TierPrice.objects.select_for_update().filter(tier=tier, livemode=livemode, active=True))
            TierPrice.objects.filter(pk__in=[row.pk for row in previous]).update(active=False)
            return TierPrice.objects.create(
                tier=tier, livemode=livemode, stripe_product_id=current.stripe_product_id, stripe_price_id=price.id,
                lookup_key=current.lookup_key, amount_minor=int(amount_minor), currency=currency.lower(), active=True,
                source=TierPrice.Source.PRICING)
    except IntegrityError:  # the same publish committed at the same moment elsewhere
        return TierPrice.objects.get(stripe_price_id=price.id)
