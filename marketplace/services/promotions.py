"""Discount codes (LEVQOR-XXXXXXXX): the PromotionCode row, and its Stripe Coupon + Promotion Code.

The row is written first (the code is unique in the table, so a collision is retried with a new
code); the Stripe side is then made by promotion_code_stripe_ensure() with idempotency keys named
after the code, so running it again (a retry, the next day's run) creates nothing twice. The
Coupon is `percent_off`, `duration=once` (the first invoice of the subscription), redeemable until
valid_until; the Promotion Code carries the code and `expires_at=valid_until`, and is active only
when the row is (a held code exists at Stripe, inactive). Checkout honours a row that is active,
in its mode and before valid_until; nothing here touches existing subscriptions."""

import logging
import secrets
import string
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from marketplace.models import PromotionCode
from marketplace.stripe_api import stripe_client, stripe_configured, stripe_errors

logger = logging.getLogger(__name__)

CODE_PREFIX = "LEVQOR-"
CODE_ALPHABET = string.ascii_uppercase + string.digits
CODE_LENGTH = 8
CODE_ATTEMPTS = 10
COUPON_DURATION = "once"


def promotion_code_generate() -> str:
    """LEVQOR- and 8 characters of [A-Z0-9] from the secrets module."""
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def promotion_code_create(*, percent_off: int, reason: str, valid_until: datetime, livemode: bool = True) -> PromotionCode:
    """A new code's row, inactive (activate it with promotion_code_activate). The code is unique:
    one taken already is replaced by another, up to CODE_ATTEMPTS times. Call inside the caller's
    transaction; the Stripe side follows with promotion_code_stripe_ensure() after it commits."""
    for _attempt in range(CODE_ATTEMPTS):
        code = promotion_code_generate()
        if PromotionCode.objects.filter(code=code).exists():
            continue
        try:
            with transaction.atomic():
                return PromotionCode.objects.create(code=code, percent_off=percent_off, reason=reason,
                                                    livemode=livemode, valid_until=valid_until, active=False)
        except IntegrityError:  # taken at the same moment by another process
            continue
    raise RuntimeError(f"no free discount code after {CODE_ATTEMPTS} attempts")


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def promotion_code_stripe_ensure(*, promotion: PromotionCode, active: bool) -> PromotionCode:
    """Make the code's Stripe Coupon and Promotion Code (the promotion code `active` or not) when
    they do not exist yet, idempotently (keys levqor-coupon-<code>, levqor-promotion-code-<code>),
    and keep their ids on the row. billing_not_configured without a Stripe key for the mode."""
    client = stripe_client(livemode=promotion.livemode)
    with stripe_errors():
        if not promotion.stripe_coupon_id:
            coupon = client.v1.coupons.create(params={
                "percent_off": promotion.percent_off, "duration": COUPON_DURATION,
                "redeem_by": _epoch(promotion.valid_until), "name": f"{promotion.code} {promotion.reason}"[:40],
                "metadata": {"levqor_code": promotion.code, "levqor_reason": promotion.reason},
            }, options={"idempotency_key": f"levqor-coupon-{promotion.code}"})
            promotion.stripe_coupon_id = coupon.id
            PromotionCode.objects.filter(pk=promotion.pk).update(stripe_coupon_id=coupon.id)
        if not promotion.stripe_promotion_code_id:
            stripe_code = client.v1.promotion_codes.create(params={
                "promotion": {"type": "coupon", "coupon": promotion.stripe_coupon_id}, "code": promotion.code,
                "expires_at": _epoch(promotion.valid_until), "active": active,
                "metadata": {"levqor_code": promotion.code, "levqor_reason": promotion.reason},
            }, options={"idempotency_key": f"levqor-promotion-code-{promotion.code}"})
            promotion.stripe_promotion_code_id = stripe_code.id
            PromotionCode.objects.filter(pk=promotion.pk).update(stripe_promotion_code_id=stripe_code.id)
    return promotion


def _stripe_active_set(promotion: PromotionCode, active: bool) -> None:
    if not stripe_configured(livemode=promotion.livemode):
        return  # nothing at Stripe to change; the row alone decides (checkout says billing is not configured)
    if not promotion.stripe_promotion_code_id:
        promotion_code_stripe_ensure(promotion=promotion, active=active)
        return
    with stripe_errors():
        stripe_client(livemode=promotion.livemode).v1.promotion_codes.update(
            promotion.stripe_promotion_code_id, params={"active": active})


def promotion_code_activate(*, promotion: PromotionCode, now: datetime | None = None) -> PromotionCode:
    """Honour the code at checkout: its Stripe promotion code made (or turned) active when Stripe is
    configured, then the row active. discount_expired past valid_until (at `now`: the caller's
    clock, default Django's)."""
    now = now or timezone.now()
    if promotion.valid_until is not None and promotion.valid_until <= now:
        raise AppError(ErrorCode.DISCOUNT_EXPIRED, f"{promotion.code} expired at {promotion.valid_until:%Y-%m-%d %H:%M} UTC.",
                       details={"code": promotion.code})
    _stripe_active_set(promotion, True)
    PromotionCode.objects.filter(pk=promotion.pk).update(active=True)
    promotion.active = True
    return promotion


def promotion_code_deactivate(*, promotion: PromotionCode) -> PromotionCode:
    """Stop honouring the code: its Stripe promotion code turned inactive (when there is one), then
    the row inactive."""
    if promotion.stripe_promotion_code_id:
        _stripe_active_set(promotion, False)
    PromotionCode.objects.filter(pk=promotion.pk).update(active=False)
    promotion.active = False
    return promotion


def promotion_codes_expire(*, now: datetime | None = None) -> list[PromotionCode]:
    """Deactivate the active codes past valid_until (Stripe too). A code whose Stripe update fails
    stays active here and is tried again on the next run (checkout ignores it anyway past
    valid_until, and Stripe's expires_at ends it there)."""
    now = now or timezone.now()
    done = []
    for promotion in PromotionCode.objects.filter(active=True, valid_until__lte=now).order_by("valid_until"):
        try:
            done.append(promotion_code_deactivate(promotion=promotion))
        except AppError as exc:
            logger.warning("promotion code %s not deactivated at Stripe: %s", promotion.code, exc.message)
    return done
