"""marketplace's sections of the personal data registry (accounts.personal_data): the account's
Stripe customers, subscriptions and checkout sessions.

Erasure keeps the money records (subscriptions, checkout sessions, the Stripe customer ids):
they are what was bought and paid, which accounting must keep, and they name the person only
through the user row, which the profile's erasure anonymises. Stripe ids are references, not
secrets. What erasure removes here is the Checkout URLs (a link into a payment page), and it
marks, in the erasure's transaction, every subscription that still bills for cancellation
(cancel_requested_at): a task tries at once after the commit and the cancel sweep again until
Stripe confirms, so an erased person is never charged again (services/erasure.py). The Stripe
Customer object itself (which holds the email at Stripe) is
deleted in the Stripe dashboard by an operator, as the README (Billing) says (its invoices are
Stripe's accounting records)."""

from django.db import transaction
from django.utils import timezone

from accounts.personal_data import personal_data_register
from levqor.tasks_queue import task_enqueue
from marketplace.models import CheckoutSession, Installation, ListingReview, Order, StripeCustomer, Subscription
from marketplace.selectors import ENTITLING_STATUSES


def billing_export(*, user) -> dict:
    return {
        "stripe_customers": [{"stripe_id": c.stripe_id, "livemode": c.livemode, "created_at": c.created_at}
                             for c in StripeCustomer.objects.filter(user=user).order_by("created_at")],
        "subscriptions": [{"stripe_id": s.stripe_id, "livemode": s.livemode, "tier": s.tier, "status": s.status,
                           "pending_tier": s.pending_tier, "current_period_end": s.current_period_end,
                           "cancel_at_period_end": s.cancel_at_period_end, "grace_until": s.grace_until,
                           "created_at": s.created_at}
                          for s in Subscription.objects.filter(user=user).order_by("created_at")],
        "checkout_sessions": [{"stripe_id": c.stripe_id, "livemode": c.livemode, "tier": c.tier, "status": c.status,
                               "promotion_code": c.promotion_code.code if c.promotion_code else None,
                               "created_at": c.created_at, "completed_at": c.completed_at}
                              for c in CheckoutSession.objects.filter(user=user).select_related("promotion_code")
                              .order_by("created_at")],
    }


def billing_erase(*, user, erasure) -> None:
    CheckoutSession.objects.filter(user=user).exclude(url="").update(url="")
    if Subscription.objects.filter(user=user, status__in=ENTITLING_STATUSES).update(
            cancel_requested_at=timezone.now(), cancel_error=""):
        user_id = str(user.pk)
        transaction.on_commit(lambda: task_enqueue("marketplace.tasks.subscriptions_cancel_for_erased", user_id))


def store_export(*, user) -> dict:
    """The marketplace: what the account bought, installed and reviewed."""
    return {
        "orders": [{"id": str(o.pk), "listing": o.listing.slug, "livemode": o.livemode, "status": o.status,
                    "amount_minor": o.amount_minor, "currency": o.currency, "created_at": o.created_at,
                    "completed_at": o.completed_at, "refunded_at": o.refunded_at}
                   for o in Order.objects.filter(buyer=user).select_related("listing").order_by("created_at")],
        "installations": [{"listing": i.listing.slug, "livemode": i.livemode, "created_at": i.created_at,
                           "uninstalled_at": i.uninstalled_at}
                          for i in Installation.objects.filter(user=user).select_related("listing").order_by("created_at")],
        "reviews": [{"listing": r.listing.slug, "stars": r.stars, "body": r.body, "created_at": r.created_at}
                    for r in ListingReview.objects.filter(user=user).select_related("listing").order_by("created_at")],
    }


def store_erase(*, user, erasure) -> None:
    """Orders stay (what was sold and paid, which accounting and the partner's payout need), without
    the Checkout link. A review's text is the person's own words: removed; its stars stay, so the
    listing's and the partner's ratings do not move (nothing links them to the person once the
    profile is anonymised). Installed modules are uninstalled: the account runs nothing any more."""
    Order.objects.filter(buyer=user).exclude(checkout_url="").update(checkout_url="")
    ListingReview.objects.filter(user=user).exclude(body="").update(body="")
    Installation.objects.filter(user=user, uninstalled_at__isnull=True).update(uninstalled_at=timezone.now())


def marketplace_personal_data_register() -> None:
    personal_data_register(name="billing", export=billing_export, erase=billing_erase)
    personal_data_register(name="marketplace", export=store_export, erase=store_erase)
