"""What billing does when an account is erased: its subscriptions stop at Stripe, so an erased
person is never charged again. The records stay (personal_data.py says why)."""

import logging

from marketplace.models import Subscription
from marketplace.selectors import ENTITLING_STATUSES
from marketplace.stripe_api import stripe_client, stripe_errors

logger = logging.getLogger("levqor.billing")


def subscriptions_cancel_for_erased(*, user_id: str) -> int:
    """Cancel at Stripe, now, every subscription of the erased account that still bills (Stripe
    then sends customer.subscription.deleted, which records it). Raises when Stripe fails, so the
    task can be run again; already cancelled ones are skipped. Returns how many were cancelled."""
    cancelled = 0
    for subscription in Subscription.objects.filter(user_id=user_id, status__in=ENTITLING_STATUSES):
        with stripe_errors():
            stripe_client(livemode=subscription.livemode).v1.subscriptions.cancel(subscription.stripe_id)
        cancelled += 1
    return cancelled
