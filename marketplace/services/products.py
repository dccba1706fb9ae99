"""stripe_sync_products: each paid tier's Stripe Product and monthly Price, found or created, and
recorded as the tier's active TierPrice. Safe to run again: a price found by its lookup key is
used as it is, and one whose amount or currency differs from the settings is reported, never
replaced (changing a price is a decision, adaptive pricing's or an operator's)."""

from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import transaction

from levqor.errors import AppError
from marketplace.models import TierPrice
from marketplace.selectors import paid_tiers, tier_lookup_key
from marketplace.stripe_api import stripe_client, stripe_errors

TIER_NAMES = {"pro": "Levqor Pro", "enterprise": "Levqor Enterprise"}


@dataclass(frozen=True)
class TierSync:
    """What the sync did for one tier: outcome is found, created, or mismatch (the price under the
    lookup key does not charge what the settings say and was not recorded)."""

    tier: str
    outcome: str
    lookup_key: str
    price_id: str
    amount_minor: int
    currency: str
    message: str = ""


def tier_product_id(tier: str) -> str:
    # Our own Product id (Stripe accepts one at creation): found again by id, never duplicated.
    return f"levqor_{tier}"


def _product_ensure(client: stripe.StripeClient, tier: str) -> tuple[str, bool]:
    product_id = tier_product_id(tier)
    try:
        with stripe_errors():
            return client.v1.products.retrieve(product_id).id, False
    except AppError as exc:  # only "no such product" leads to creating it
        cause = exc.__cause__
        if not (isinstance(cause, stripe.InvalidRequestError) and getattr(cause, "code", "") == "resource_missing"):
            raise
    with stripe_errors():
        product = client.v1.products.create(
            params={"id": product_id, "name": TIER_NAMES.get(tier, f"Levqor {tier.title()}"),
                    "metadata": {"levqor_tier": tier}},
            options={"idempotency_key": f"levqor-product-{product_id}"})
    return product.id, True


def _record(*, tier: str, livemode: bool, price_id: str, product_id: str, lookup_key: str, amount: int,
            currency: str) -> None:
    """The price as the tier's one active TierPrice in this mode (a row of it kept if it exists)."""
    with transaction.atomic():
        TierPrice.objects.filter(tier=tier, livemode=livemode, active=True).exclude(
            stripe_price_id=price_id).update(active=False)
        TierPrice.objects.update_or_create(
            stripe_price_id=price_id,
            defaults={"tier": tier, "livemode": livemode, "stripe_product_id": product_id, "lookup_key": lookup_key,
                      "amount_minor": amount, "currency": currency, "active": True},
            create_defaults={"tier": tier, "livemode": livemode, "stripe_product_id": product_id,
                             "lookup_key": lookup_key, "amount_minor": amount, "currency": currency, "active": True,
                             "source": TierPrice.Source.SYNC})


def stripe_products_sync(*, livemode: bool) -> list[TierSync]:
    """Find or create, per paid tier, the Product and the monthly Price under its lookup key
    (levqor_<tier>_monthly) at TIER_PRICES_MINOR / BILLING_CURRENCY, and record it as the
    tier's active TierPrice. Raises billing_not_configured without the mode's key."""
    client = stripe_client(livemode=livemode)
    currency = settings.BILLING_CURRENCY
    results = []
    for tier in paid_tiers():
        amount = settings.TIER_PRICES_MINOR[tier]
        lookup_key = tier_lookup_key(tier)
        with stripe_errors():
            found = client.v1.prices.list(params={"lookup_keys": [lookup_key], "limit": 1}).data
        if found:
            price = found[0]
            product_id = price.product if isinstance(price.product, str) else price.product.id
            if price.unit_amount != amount or price.currency != currency:
                known = TierPrice.objects.filter(stripe_price_id=price.id, active=True).first()
                message = (f"Stripe's price {price.id} under {lookup_key} charges {price.unit_amount} "
                           f"{price.currency.upper()}, the settings say {amount} {currency.upper()}")
                if known is not None:  # set on purpose (adaptive pricing or an earlier decision): kept
                    results.append(TierSync(tier, "found", lookup_key, price.id, price.unit_amount, price.currency,
                                            message + f"; kept (recorded by {known.get_source_display()})."))
                    continue
                results.append(TierSync(tier, "mismatch", lookup_key, price.id, price.unit_amount, price.currency,
                                        message + "; not recorded. Change the setting or the price in Stripe."))
                continue
            _record(tier=tier, livemode=livemode, price_id=price.id, product_id=product_id, lookup_key=lookup_key,
                    amount=amount, currency=currency)
            results.append(TierSync(tier, "found", lookup_key, price.id, amount, currency))
            continue
        product_id, product_created = _product_ensure(client, tier)
        with stripe_errors():
            price = client.v1.prices.create(
                params={"product": product_id, "unit_amount": amount, "currency": currency,
                        "recurring": {"interval": "month"}, "lookup_key": lookup_key,
                        "nickname": f"{TIER_NAMES.get(tier, tier)} monthly", "metadata": {"levqor_tier": tier}},
                options={"idempotency_key": f"levqor-price-{lookup_key}-{amount}-{currency}"})
        _record(tier=tier, livemode=livemode, price_id=price.id, product_id=product_id, lookup_key=lookup_key,
                amount=amount, currency=currency)
        results.append(TierSync(tier, "created", lookup_key, price.id, amount, currency,
                                "product created too" if product_created else "product existed"))
    return results
