"""Subscriptions and the user's tier: what a subscription entitles its user to now, moving the user
to it (only through accounts.services.tiers.user_tier_set), and the sweep that applies what falls
due without an event saying so (period-end downgrades and cancellations, grace periods run out).
Stripe's events about subscriptions are processed in billing_events.py, which calls user_tier_follow."""

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.services.tiers import user_tier_set
from levqor.errors import AppError, ErrorCode
from marketplace import signals
from marketplace.models import Subscription
from marketplace.selectors import ENTITLING_STATUSES, tier_rank
from marketplace.stripe_api import stripe_client, stripe_errors

logger = logging.getLogger("levqor.billing")

TIER_SOURCE = "stripe"


def subscription_entitlement(subscription: Subscription, *, now: datetime) -> str:
    """The tier a subscription entitles its user to now: its tier while it is active, trialing or
    past due within grace; at the end of the period paid for, the pending cheaper tier or sandbox
    when it was set to cancel then; sandbox once cancelled or when the grace ran out."""
    if subscription.status not in ENTITLING_STATUSES:
        return User.Tier.SANDBOX
    if subscription.grace_until is not None and subscription.grace_until <= now:
        return User.Tier.SANDBOX
    if subscription.current_period_end is not None and subscription.current_period_end <= now:
        if subscription.cancel_at_period_end:
            return User.Tier.SANDBOX
        if subscription.pending_tier:
            return subscription.pending_tier
    return subscription.tier


def subscription_roll(subscription: Subscription, *, now: datetime) -> str:
    """A pending downgrade whose period has ended becomes the subscription's tier: the reason to
    give for the move, or "" when nothing was pending."""
    if (subscription.pending_tier and subscription.current_period_end is not None
            and subscription.current_period_end <= now):
        subscription.tier, subscription.pending_tier = subscription.pending_tier, ""
        return f"downgrade of Stripe subscription {subscription.stripe_id} to {subscription.tier} at the end of the period"
    return ""


def _why(subscription: Subscription, *, now: datetime, target: str) -> str:
    if subscription.status not in ENTITLING_STATUSES:
        return f"Stripe subscription {subscription.stripe_id} is {subscription.status}: the paid period ended"
    if subscription.grace_until is not None and subscription.grace_until <= now:
        return (f"payment of Stripe subscription {subscription.stripe_id} failed and the "
                f"{settings.BILLING_GRACE_DAYS}-day grace period ended without payment")
    if subscription.cancel_at_period_end and target == User.Tier.SANDBOX:
        return f"Stripe subscription {subscription.stripe_id} was cancelled at the end of its period, which has come"
    if subscription.current_period_end and subscription.current_period_end <= now and target != subscription.tier:
        return f"downgrade of Stripe subscription {subscription.stripe_id} to {target} at the end of the period"
    return f"Stripe subscription {subscription.stripe_id} ({subscription.status}) to {target}"


def user_tier_follow(*, subscription: Subscription, now: datetime, reason: str = "") -> tuple[str, str]:
    """Move the user of a live subscription to the best tier their live subscriptions entitle now
    (user_tier_set, with the reason). (old tier, new tier); equal when nothing moved, and always
    for test-mode subscriptions, which never touch a tier."""
    user = subscription.user
    old = user.tier
    if not subscription.livemode:
        return old, old
    subscriptions = list(Subscription.objects.filter(user=user, livemode=True))
    best, cause = User.Tier.SANDBOX, subscription
    for candidate in subscriptions:
        candidate = subscription if candidate.pk == subscription.pk else candidate
        entitled = subscription_entitlement(candidate, now=now)
        if tier_rank(entitled) > tier_rank(best):
            best, cause = entitled, candidate
    if best == old:
        return old, old
    user_tier_set(user=user, tier=best, reason=reason if reason and cause is subscription else
                  _why(cause, now=now, target=best), source=TIER_SOURCE)
    return old, best



def _grace_recheck(subscription: Subscription, *, now: datetime) -> bool:
    """Before a user goes to sandbox because the grace of a failed payment ran out, ask Stripe
    (outside any transaction) whether the subscription is still unpaid: events can be late or
    lost. Stripe says active or trialing: the grace is cleared and the tier kept (False). Stripe
    unreachable: not now, the next sweep asks again (False). Otherwise (still past due, unknown to
    Stripe, no key to ask with): the downgrade goes ahead (True)."""
    if not (subscription.livemode and subscription.grace_until is not None and subscription.grace_until <= now
            and subscription.status in ENTITLING_STATUSES):
        return True
    try:
        with stripe_errors():
            status = stripe_client(livemode=True).v1.subscriptions.retrieve(subscription.stripe_id).status
    except AppError as exc:
        if exc.code == ErrorCode.SERVICE_UNAVAILABLE:
            logger.warning("grace of %s ended, Stripe unreachable: asked again next sweep", subscription.stripe_id)
            return False
        return True
    if status not in ("active", "trialing"):
        return True
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk, grace_until=subscription.grace_until).update(
            grace_until=None, updated_at=timezone.now())
    logger.info("grace of %s ended but Stripe says %s: paid, tier kept", subscription.stripe_id, status)
    return False


def subscriptions_due_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Apply what has fallen due without an event saying so: downgrades and cancellations at the end
    of the period paid for, and grace periods that ran out (the user to sandbox, once Stripe
    confirms the subscription is still unpaid: _grace_recheck). Returns how many subscriptions it
    looked at."""
    now = now or timezone.now()
    ended = Q(current_period_end__lte=now)
    due = (Q(pending_tier__gt="") & ended) | (
        Q(livemode=True) & ~Q(user__tier=User.Tier.SANDBOX) & ((Q(cancel_at_period_end=True) & ended)
                                                               | Q(grace_until__lte=now)))
    # A finished subscription (canceled, incomplete_expired...) entitles nothing whatever its fields
    # say: it is never due again (else a cancelled one would be looked at every run, forever).
    ids = list(Subscription.objects.filter(due, status__in=ENTITLING_STATUSES).order_by("current_period_end")
               .values_list("pk", flat=True)[:limit])
    for subscription in Subscription.objects.filter(pk__in=ids).order_by("current_period_end"):
        if not _grace_recheck(subscription, now=now):
            continue
        with transaction.atomic():
            subscription = Subscription.objects.select_for_update().select_related("user").get(pk=subscription.pk)
            rolled = subscription_roll(subscription, now=now)
            subscription.save()
            old, new = user_tier_follow(subscription=subscription, now=now, reason=rolled)
            if old != new:
                signals.subscription_changed.send(sender=Subscription, subscription=subscription, old_tier=old,
                                                  new_tier=new, event=None)
    return len(ids)
