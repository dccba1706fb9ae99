"""Starting and managing a subscription: the user's Stripe customer (one per mode, made on first
use), a Checkout Session in subscription mode for a paid tier, and a billing portal session.

Mode: a request made with a test-mode API key (livemode False) uses only STRIPE_TEST_SECRET_KEY
and the user's test customer (marketplace.stripe_api refuses a live key there); everything else
is live. Stripe calls run outside our transactions (nothing is held while Stripe answers) and
inside stripe_errors(), so Stripe unreachable is 503, never a 500."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from levqor.errors import AppError, ErrorCode
from levqor.site import site_url
from marketplace.models import CheckoutSession, PromotionCode, StripeCustomer, Subscription
from marketplace.selectors import ENTITLING_STATUSES, paid_tiers, tier_price_active
from marketplace.stripe_api import stripe_client, stripe_errors

SUCCESS_PATH = "/developer?billing=success&session_id={CHECKOUT_SESSION_ID}"
CANCEL_PATH = "/developer?billing=cancelled"
PORTAL_RETURN_PATH = "/developer"


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def _invalid(field: str, message: str) -> AppError:
    return AppError(ErrorCode.VALIDATION_FAILED, "The request did not pass validation.",
                    details={"errors": [{"field": field, "message": message}]})


def stripe_customer_for(*, user: User, livemode: bool) -> StripeCustomer:
    """The user's Stripe customer in this mode, created at Stripe on first use. The creation
    carries an idempotency key per user and mode, so two first requests at once make one
    customer at Stripe, and the unique (user, livemode) row settles which one we keep."""
    existing = StripeCustomer.objects.filter(user=user, livemode=livemode).first()
    if existing is not None:
        return existing
    client = stripe_client(livemode=livemode)
    with stripe_errors():
        customer = client.v1.customers.create(
            params={"email": user.email, "name": user.name or "",
                    "metadata": {"levqor_user_id": str(user.pk), "levqor_mode": _mode(livemode)}},
            options={"idempotency_key": f"levqor-customer-{user.pk}-{_mode(livemode)}"})
    try:
        with transaction.atomic():
            return StripeCustomer.objects.create(user=user, livemode=livemode, stripe_id=customer.id)
    except IntegrityError:  # a concurrent first use stored it first (same customer, same key)
        return StripeCustomer.objects.get(user=user, livemode=livemode)


def promotion_code_usable(*, code: str, livemode: bool) -> PromotionCode:
    """The promotion code a customer typed, if it may be applied now in this mode: active, not
    past valid_until, and known to Stripe. Otherwise 400 validation_failed on `code`."""
    found = (PromotionCode.objects.filter(code__iexact=code.strip(), livemode=livemode, active=True)
             .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=timezone.now()))
             .exclude(stripe_promotion_code_id="").first())
    if found is None:
        raise _invalid("code", "This promotion code is unknown, expired or no longer active.")
    return found


@dataclass(frozen=True)
class CheckoutStarted:
    session: CheckoutSession
    created: bool


def checkout_session_start(*, user: User, livemode: bool, tier: str, code: str = "",
                           idempotency_key: str = "") -> CheckoutStarted:
    """A Stripe Checkout Session (subscription mode) for `tier` at its active TierPrice, for the
    user's customer in this mode, recorded as a CheckoutSession. With `code`, that promotion code
    is applied; without, Stripe's own promotion-code box is offered. 409 already_subscribed when
    the user has an active subscription in this mode (another tier is changed in the portal, not
    with a second subscription that would bill twice); the user's older checkouts still open are
    expired at Stripe (_older_checkouts_expire), so two tabs cannot both be paid. A client's Idempotency-Key is passed on to
    Stripe (scoped to the user and mode), so a retried request gets the same session back."""
    if tier not in paid_tiers():
        raise _invalid("tier", f"One of {', '.join(paid_tiers())}.")
    promotion = promotion_code_usable(code=code, livemode=livemode) if code else None
    current = (Subscription.objects.filter(user=user, livemode=livemode, status__in=ENTITLING_STATUSES)
               .order_by("-created_at").first())
    if current is not None and current.status == "past_due":
        raise AppError(ErrorCode.ALREADY_SUBSCRIBED,
                       f"The last payment of your {current.tier} subscription failed: pay it or change the card "
                       "in the billing portal (Manage billing, or POST /api/v1/billing/portal) instead of "
                       "starting a second subscription.",
                       details={"tier": current.tier, "subscription": current.stripe_id, "status": current.status})
    if current is not None:
        same = current.tier == tier
        raise AppError(ErrorCode.ALREADY_SUBSCRIBED,
                       f"You are subscribed to {current.tier} already." if same else
                       f"You have a {current.tier} subscription: change plans in the billing portal "
                       "(POST /api/v1/billing/portal) instead of starting a second one.",
                       details={"tier": current.tier, "subscription": current.stripe_id})
    price = tier_price_active(tier=tier, livemode=livemode)
    if price is None:
        raise AppError(ErrorCode.BILLING_NOT_CONFIGURED,
                       f"No {_mode(livemode)} Stripe price for the {tier} tier yet: an operator must run "
                       f"`manage.py stripe_sync_products{'' if livemode else ' --test'}`.",
                       details={"tier": tier, "livemode": livemode})
    customer = stripe_customer_for(user=user, livemode=livemode)
    metadata = {"levqor_user_id": str(user.pk), "tier": tier}
    params = {
        "mode": "subscription", "customer": customer.stripe_id,
        "line_items": [{"price": price.stripe_price_id, "quantity": 1}],
        "success_url": site_url(SUCCESS_PATH), "cancel_url": site_url(CANCEL_PATH),
        "client_reference_id": str(user.pk), "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }
    if promotion is not None:
        params["discounts"] = [{"promotion_code": promotion.stripe_promotion_code_id}]
    else:
        params["allow_promotion_codes"] = True
    options = {"idempotency_key": f"levqor-checkout-{user.pk}-{_mode(livemode)}-{idempotency_key}"} \
        if idempotency_key else {}
    with stripe_errors():
        session = stripe_client(livemode=livemode).v1.checkout.sessions.create(params=params, options=options)
    row, created = CheckoutSession.objects.get_or_create(
        stripe_id=session.id, defaults={"user": user, "livemode": livemode, "mode": "subscription", "tier": tier,
                                        "promotion_code": promotion, "url": session.url or ""})
    if row.user_id != user.pk:  # a Stripe idempotency replay can only answer the same user's session
        raise AppError(ErrorCode.NOT_FOUND, "No such checkout session.")
    _older_checkouts_expire(user=user, livemode=livemode, newer=row)
    return CheckoutStarted(session=row, created=created)


def _older_checkouts_expire(*, user: User, livemode: bool, newer: CheckoutSession) -> None:
    """Two tabs or a double click start two checkouts, and paying both would make two subscriptions
    that bill twice: the user's subscription checkouts of this mode still open and started before
    `newer` are expired at Stripe (their page then takes no payment) and recorded expired. The
    newest wins, so of two concurrent starts one stays open, and an Idempotency-Key replay (which
    answers the same, older-or-equal row) expires nothing it returns. Stripe unreachable: 503
    (the next start expires them again); a session Stripe refuses to expire is no longer open
    there (paid or expired), and its webhook event records which."""
    older = list(CheckoutSession.objects.filter(user=user, livemode=livemode, mode="subscription",
                                                status=CheckoutSession.Status.OPEN, pk__lt=newer.pk)
                 .values_list("stripe_id", flat=True))
    if not older:
        return
    client = stripe_client(livemode=livemode)
    expired = []
    try:
        for stripe_id in older:
            try:
                with stripe_errors():
                    client.v1.checkout.sessions.expire(stripe_id)
            except AppError as exc:
                if exc.code != ErrorCode.BILLING_PROVIDER_ERROR:
                    raise
                continue
            expired.append(stripe_id)
    finally:
        if expired:
            CheckoutSession.objects.filter(stripe_id__in=expired, status=CheckoutSession.Status.OPEN).update(
                status=CheckoutSession.Status.EXPIRED)


def billing_portal_start(*, user: User, livemode: bool) -> str:
    """The URL of a Stripe billing portal session for the user's customer in this mode (manage
    the card, change plan, cancel). 409 no_billing_customer before a first checkout."""
    customer = StripeCustomer.objects.filter(user=user, livemode=livemode).first()
    if customer is None:
        raise AppError(ErrorCode.NO_BILLING_CUSTOMER,
                       "There is no billing account to manage yet: subscribe to a paid tier first.",
                       details={"livemode": livemode})
    with stripe_errors():
        portal = stripe_client(livemode=livemode).v1.billing_portal.sessions.create(
            params={"customer": customer.stripe_id, "return_url": site_url(PORTAL_RETURN_PATH)})
    return portal.url

