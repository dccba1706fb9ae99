"""What billing does when an account is erased: its subscriptions stop at Stripe, so an erased
person is never charged again. The records stay (personal_data.py says why).

The erasure marks them in its own transaction (Subscription.cancel_requested_at); cancelling at
Stripe happens here, after the commit (a task at once) and again at every cancel sweep until
Stripe confirms: Stripe down, a lost task or a mode without a key loses nothing."""

import logging

from django.utils import timezone

from levqor.errors import AppError
from marketplace.models import Subscription
from marketplace.selectors import ENTITLING_STATUSES
from marketplace.stripe_api import stripe_client, stripe_configured, stripe_errors

logger = logging.getLogger("levqor.billing")


def subscriptions_cancel_requested(*, user_id: str | None = None, limit: int = 500) -> int:
    """Cancel at Stripe, now, every subscription marked for cancellation (of one user, or all)
    that Stripe has not confirmed cancelled. Each on its own: one that fails (Stripe down, a mode
    whose key is not set, a refusal) records why in cancel_error and is tried again at the next
    sweep, without stopping the others. Confirmed (or unknown at Stripe): status canceled, so
    it is not tried again; Stripe's customer.subscription.deleted follows. Returns how many."""
    pending = Subscription.objects.filter(cancel_requested_at__isnull=False, status__in=ENTITLING_STATUSES)
    if user_id is not None:
        pending = pending.filter(user_id=user_id)
    cancelled = 0
    for subscription in pending.order_by("cancel_requested_at")[:limit]:
        status, error = _cancel_at_stripe(subscription)
        changes = {"cancel_error": error[:255], "updated_at": timezone.now()}
        if status:
            changes["status"] = status
            cancelled += 1
        Subscription.objects.filter(pk=subscription.pk).update(**changes)
    return cancelled


def _cancel_at_stripe(subscription: Subscription) -> tuple[str, str]:
    """(the status Stripe confirmed, "") or ("", why not)."""
    mode = "live" if subscription.livemode else "test"
    if not stripe_configured(livemode=subscription.livemode):
        return "", f"not cancelled: no {mode} Stripe key is configured; tried again once it is"
    try:
        with stripe_errors():
            found = stripe_client(livemode=subscription.livemode).v1.subscriptions.cancel(subscription.stripe_id)
    except AppError as exc:
        if (exc.details or {}).get("stripe_code") == "resource_missing":
            return "canceled", "unknown at Stripe: nothing left to bill"
        logger.warning("cancelling %s (erased account) at Stripe failed: %s", subscription.stripe_id, exc.message)
        return "", f"not cancelled yet: {exc.message}"
    except Exception as exc:  # each subscription on its own: the others are still cancelled
        logger.warning("cancelling %s (erased account) at Stripe failed", subscription.stripe_id, exc_info=True)
        return "", f"not cancelled yet: {type(exc).__name__}"
    return getattr(found, "status", None) or "canceled", ""
