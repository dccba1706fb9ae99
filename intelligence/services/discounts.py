"""Discounts (issue 11 §4; original-behaviour.md §4): once a day, from the last 7 days,

    signups < 5 -> 15 % for 14 days (low_signups)
    else paid < 2 -> 10 % for 7 days (low_conversions)
    else -> 5 % for 30 days (healthy_growth)

signups = users created in the window (staff excluded); paid = users whose paid subscription
(a marketplace Subscription to a paid tier, live mode, not left incomplete) started in the window.
The day's DiscountSuggestion carries its code (a marketplace PromotionCode, LEVQOR-XXXXXXXX) and
the inputs; one a day, so running the day's job again makes no second. With Stripe configured the
code gets a Stripe Coupon + Promotion Code (marketplace.services.promotions). The code is active
(honoured at checkout) only with PRICING_AUTO_APPLY on and automation_allowed("discounts.activate");
otherwise it waits as a suggestion (held under stabilize mode) for an operator to activate it.
Each run first deactivates the codes past their valid_until (Stripe too)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from intelligence.known_flags import PRICING_AUTO_APPLY
from intelligence.models import DiscountSuggestion
from intelligence.services.automation import automation_allowed
from intelligence.services.flags import flag_active
from levqor.errors import AppError, ErrorCode
from marketplace.models import Subscription
from marketplace.services.promotions import (
    promotion_code_activate,
    promotion_code_create,
    promotion_code_deactivate,
    promotion_code_stripe_ensure,
    promotion_codes_expire,
)
from marketplace.stripe_api import stripe_configured

logger = logging.getLogger(__name__)

WINDOW_DAYS = 7
ACTIVATE_ACTION = "discounts.activate"
MIN_SIGNUPS, MIN_PAID = 5, 2
# reason -> (percent off, days the code is valid)
RULES = {
    DiscountSuggestion.Reason.LOW_SIGNUPS: (15, 14),
    DiscountSuggestion.Reason.LOW_CONVERSIONS: (10, 7),
    DiscountSuggestion.Reason.HEALTHY_GROWTH: (5, 30),
}
# A subscription that never got its first payment did not convert anyone.
UNPAID_STATUSES = ("incomplete", "incomplete_expired")
S = DiscountSuggestion.Status


def discount_rule(*, signups: int, paid: int) -> tuple[str, int, int]:
    """(reason, percent_off, days valid) by the reference rule."""
    if signups < MIN_SIGNUPS:
        reason = DiscountSuggestion.Reason.LOW_SIGNUPS
    elif paid < MIN_PAID:
        reason = DiscountSuggestion.Reason.LOW_CONVERSIONS
    else:
        reason = DiscountSuggestion.Reason.HEALTHY_GROWTH
    percent, days = RULES[reason]
    return str(reason), percent, days


def discount_inputs(*, now: datetime) -> dict:
    """The last WINDOW_DAYS days' signups and paid conversions (two counts in SQL)."""
    since = now - timedelta(days=WINDOW_DAYS)
    signups = User.objects.filter(created_at__gte=since, created_at__lt=now, is_staff=False).count()
    paid = (Subscription.objects.filter(livemode=True, created_at__gte=since, created_at__lt=now,
                                        tier__in=list(settings.TIER_PRICES_MINOR))
            .exclude(status__in=UNPAID_STATUSES).values("user").distinct().count())
    return {"from": since.isoformat(), "to": now.isoformat(), "days": WINDOW_DAYS, "signups": signups, "paid": paid,
            "signups_counted": "users created in the window, staff excluded",
            "paid_counted": "users whose live paid-tier subscription started in the window (not incomplete)"}


def discounts_expire(*, now: datetime | None = None) -> int:
    """Codes past valid_until deactivated (Stripe too), and their suggestions marked expired."""
    now = now or timezone.now()
    promotion_codes_expire(now=now)
    return (DiscountSuggestion.objects.filter(valid_until__lte=now, status__in=[S.SUGGESTED, S.HELD, S.ACTIVE])
            .exclude(promotion_code__active=True).update(status=S.EXPIRED))


def discount_daily_run(*, now: datetime | None = None) -> DiscountSuggestion:
    """The day's discount (the schedule "intelligence.discounts", 00:30 UTC): expired codes ended
    first, then the rule on the last 7 days, its code, its Stripe side when configured, and
    activation when allowed. Run again the same day, it returns the day's suggestion (settling it
    again if Stripe failed before) and makes no second."""
    now = now or timezone.now()
    discounts_expire(now=now)
    day = now.date()
    existing = DiscountSuggestion.objects.filter(day=day).select_related("promotion_code").first()
    if existing is not None:
        _stripe_complete(existing, now=now)
        return existing
    inputs = discount_inputs(now=now)
    reason, percent, days = discount_rule(signups=inputs["signups"], paid=inputs["paid"])
    valid_until = now + timedelta(days=days)
    try:
        with transaction.atomic():
            promotion = promotion_code_create(percent_off=percent, reason=reason, valid_until=valid_until, livemode=True)
            suggestion = DiscountSuggestion.objects.create(
                day=day, reason=reason, percent_off=percent, duration_days=days, valid_until=valid_until, inputs=inputs,
                promotion_code=promotion, status=S.SUGGESTED, created_at=now)
    except IntegrityError:  # the day's run at the same moment elsewhere made it
        return DiscountSuggestion.objects.get(day=day)
    _settle(suggestion, now=now)
    suggestion.refresh_from_db()
    return suggestion


def _save(suggestion: DiscountSuggestion, note: str, **fields) -> None:
    for name, value in fields.items():
        setattr(suggestion, name, value)
    suggestion.note = note[:255]
    suggestion.save(update_fields=["note", *fields])


def _settle(suggestion: DiscountSuggestion, *, now: datetime) -> None:
    """Activate the new code when allowed; otherwise leave it waiting (its Stripe side made,
    inactive, when Stripe is configured)."""
    promotion = suggestion.promotion_code
    configured = stripe_configured(livemode=promotion.livemode)
    stored_only = "" if configured else " Stripe is not configured: the code is stored here only."
    if not flag_active(PRICING_AUTO_APPLY):
        status, note = S.SUGGESTED, "PRICING_AUTO_APPLY is off: waiting for an operator to activate it."
    elif not automation_allowed(ACTIVATE_ACTION, detail={"discount": suggestion.pk, "code": promotion.code,
                                                          "percent_off": suggestion.percent_off,
                                                          "reason": suggestion.reason}):
        status, note = S.HELD, "Held: stabilize mode is on."
    else:
        try:
            promotion_code_activate(promotion=promotion, now=now)
        except AppError as exc:
            _save(suggestion, f"Not activated: {exc.message}")
            return
        _save(suggestion, "Activated by PRICING_AUTO_APPLY." + stored_only, status=S.ACTIVE, decided_at=now)
        return
    if configured:
        try:
            promotion_code_stripe_ensure(promotion=promotion, active=False)
        except AppError as exc:
            note += f" Its Stripe side is not made yet: {exc.message}"
    _save(suggestion, note + stored_only, status=status)


def _stripe_complete(suggestion: DiscountSuggestion, *, now: datetime) -> None:
    """A same-day rerun after Stripe failed: the day's decision made again (activate when allowed,
    else the Stripe side made inactive), with the same idempotency keys."""
    promotion = suggestion.promotion_code
    if (promotion.stripe_promotion_code_id or not stripe_configured(livemode=promotion.livemode)
            or suggestion.status not in (S.SUGGESTED, S.HELD)):
        return
    _settle(suggestion, now=now)
    suggestion.refresh_from_db()


def discount_activate(*, suggestion: DiscountSuggestion, actor, now: datetime | None = None) -> DiscountSuggestion:
    """An operator's explicit activation (stabilize mode does not hold a person): the code honoured
    at checkout from now until valid_until. discount_expired past it."""
    now = now or timezone.now()
    suggestion = DiscountSuggestion.objects.select_related("promotion_code").get(pk=suggestion.pk)
    if suggestion.status == S.EXPIRED:
        raise AppError(ErrorCode.DISCOUNT_EXPIRED, f"{suggestion.promotion_code.code} has expired.",
                       details={"discount": suggestion.pk})
    promotion_code_activate(promotion=suggestion.promotion_code, now=now)
    _save(suggestion, "Activated by an operator.", status=S.ACTIVE, decided_at=now, decided_by=actor)
    return suggestion


def discount_deactivate(*, suggestion: DiscountSuggestion, actor) -> DiscountSuggestion:
    """An operator's stop: the code is no longer honoured (Stripe too)."""
    suggestion = DiscountSuggestion.objects.select_related("promotion_code").get(pk=suggestion.pk)
    if suggestion.status in (S.INACTIVE, S.EXPIRED):
        raise AppError(ErrorCode.SUGGESTION_DECIDED, f"{suggestion.promotion_code.code} is {suggestion.status} already.",
                       details={"discount": suggestion.pk, "status": suggestion.status})
    promotion_code_deactivate(promotion=suggestion.promotion_code)
    _save(suggestion, "Deactivated by an operator.", status=S.INACTIVE, decided_at=timezone.now(), decided_by=actor)
    return suggestion
