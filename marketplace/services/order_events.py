"""Stripe events of marketplace orders, called by billing_events' HANDLERS (a payment-mode Checkout
Session is an order's; a subscription-mode one stays billing's):

- checkout.session.completed (and async_payment_succeeded): the order completed exactly once, a
  compare-and-set pending -> completed (an expired order Stripe says was paid completes too): the
  payment intent's latest charge (fetched before the transaction: order_payment_fetch), the split,
  payout_due_at = completed_at + PAYOUT_HOLD_DAYS, the listing installed, order_completed sent,
  order.completed to the partner and the buyer. An amount or currency that does not match the
  order is recorded and ignored (the event's note says why), never completes it.
  The fetched charge's amount_refunded (and a refund recorded on the order before it completed)
  is applied: a charge refunded in full completes straight into `refunded` (no install, nothing
  paid out); a partial refund lowers the partner's payout (order_refund_recorded is sent).
- checkout.session.expired, checkout.session.async_payment_failed: the pending order expired (a
  failed delayed payment ends the order as an expired session does: the buyer can start again).
- charge.refunded of an order's charge (by charge id or payment intent, else by the charge's
  transfer_group order_<id> or its metadata, which a charge has before its order completes): a
  pending (or expired) order records the refund, and its completion applies it. Every increase of
  a completed order's refund sends order_refund_recorded and, when its payout was made, queues
  marketplace.tasks.payout_reverse_for_order after the commit (the partner's share of it is taken
  back). Once fully refunded the order is refunded, the buyer's install of it uninstalled,
  order_refunded sent with the partner's share taken back in all (reversed_minor), order.refunded
  emitted. A partial refund records amount_refunded_minor and keeps the order.

Every handler runs in billing's processing transaction; a repeated event finds the order moved
already and writes nothing."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from levqor.tasks_queue import task_enqueue
from marketplace import events, signals
from marketplace.models import Installation, Order, Payout, StripeEvent
from marketplace.services.billing_events import IGNORED, PROCESSED, Outcome
from marketplace.services.installs import listing_install, listing_uninstall
from marketplace.services.orders import order_events_emit, order_split
from marketplace.services.payout_reversals import REVERSIBLE, payout_reversal_target
from marketplace.stripe_api import stripe_client, stripe_errors

logger = logging.getLogger("levqor.billing")

PAYOUT_REVERSE_TASK = "marketplace.tasks.payout_reverse_for_order"
PAID_STATUSES = (Order.Status.COMPLETED, Order.Status.PAID_OUT)


def _processed(note: str = "") -> Outcome:
    return Outcome(PROCESSED, note)


def _ignored(note: str) -> Outcome:
    return Outcome(IGNORED, note)


def _id(value) -> str:
    return (value.get("id") or "") if isinstance(value, dict) else (value or "")


def order_session_is_ours(data: dict) -> bool:
    """Whether a Checkout Session object is a marketplace order's (payment mode, our metadata)."""
    return data.get("mode") == "payment" and bool((data.get("metadata") or {}).get("order_id"))


def _mode_mismatch(event: StripeEvent, order: Order) -> str:
    """Why the event's mode cannot be the order's ("" when it can). A test-mode event can be a live
    order's only where the live key is itself a test key (staging), as for subscriptions."""
    if order.livemode and not event.livemode and not settings.STRIPE_SECRET_KEY.startswith("sk_test_"):
        return "a test-mode event for a live order (the live key is a live key): ignored"
    if not order.livemode and event.livemode:
        return "a live event for a test-mode order: ignored"
    return ""


def _order_of_session(data: dict) -> Order | None:
    order_id = (data.get("metadata") or {}).get("order_id") or ""
    try:
        return Order.objects.filter(pk=order_id, checkout_session_id=data.get("id") or "").first()
    except (ValidationError, ValueError, TypeError):  # not a UUID: no order of ours
        return None


def order_payment_fetch(event: StripeEvent) -> dict:
    """Before the transaction: the payment intent of a paid order's session ({"payment_intent":
    dict}, its latest_charge the charge), or {} when the handler will not need it (not our order,
    completed already, no payment intent)."""
    data = event.payload["data"]["object"]
    order = _order_of_session(data)
    if order is None or order.status not in (Order.Status.PENDING, Order.Status.EXPIRED) or _mode_mismatch(event, order):
        return {}
    intent_id = _id(data.get("payment_intent"))
    if not intent_id:
        return {}
    with stripe_errors():  # the charge expanded: what was refunded of it already is applied at completion
        intent = stripe_client(livemode=order.livemode).v1.payment_intents.retrieve(
            intent_id, params={"expand": ["latest_charge"]})
    return {"payment_intent": intent.to_dict()}


def order_checkout_completed(event: StripeEvent, payment_intent: dict | None = None) -> Outcome:
    """checkout.session.completed / async_payment_succeeded of an order: completed exactly once."""
    data = event.payload["data"]["object"]
    order = _order_of_session(data)
    if order is None:
        return _ignored(f"checkout session {data.get('id')} is no order of ours")
    why = _mode_mismatch(event, order)
    if why:
        return _ignored(why)
    if order.status not in (Order.Status.PENDING, Order.Status.EXPIRED):
        return _processed(f"order {order.pk} is {order.status} already: nothing changed")
    if data.get("payment_status") not in ("paid", "no_payment_required"):
        return _ignored(f"payment status {data.get('payment_status')}: waiting for the payment to succeed")
    amount, currency = data.get("amount_total"), (data.get("currency") or "").lower()
    if amount is None or int(amount) != order.amount_minor or currency != order.currency:
        return _ignored(f"amount mismatch: Stripe says {amount} {currency}, order {order.pk} is "
                        f"{order.amount_minor} {order.currency}; not completed")
    intent_id = _id(data.get("payment_intent"))
    if intent_id and payment_intent is None:  # the order became pending again between fetch and now
        raise RuntimeError("the order's payment intent was not fetched; retried")
    charge = (payment_intent or {}).get("latest_charge")
    charge_id = _id(charge)
    charge_refunded = int(charge.get("amount_refunded") or 0) if isinstance(charge, dict) else 0
    refunded = min(max(order.amount_refunded_minor, charge_refunded), order.amount_minor)
    now = timezone.now()
    partner_share, platform_fee = order_split(amount_minor=order.amount_minor, revenue_share=order.revenue_share)
    changed = Order.objects.filter(pk=order.pk, status__in=(Order.Status.PENDING, Order.Status.EXPIRED)).update(
        status=Order.Status.COMPLETED, payment_intent_id=intent_id, charge_id=charge_id,
        partner_share_minor=partner_share, platform_fee_minor=platform_fee, completed_at=now,
        payout_due_at=now + timedelta(days=settings.PAYOUT_HOLD_DAYS), amount_refunded_minor=refunded, updated_at=now)
    if not changed:
        return _processed(f"order {order.pk} completed already: nothing changed")
    order = Order.objects.select_related("listing", "buyer").get(pk=order.pk)
    full = order.amount_minor > 0 and refunded >= order.amount_minor
    twice = ""
    if order.buyer is not None and not full:
        install, _ = listing_install(user=order.buyer, listing=order.listing, livemode=order.livemode, order=order)
        if install.order_id and install.order_id != order.pk:  # two sessions paid: not refunded automatically
            twice = f"; the listing was installed already by order {install.order_id}: paid twice, refund one by hand"
            logger.warning("order %s completed but its listing is installed by order %s of the same buyer: paid twice",
                           order.pk, install.order_id)
    signals.order_completed.send(sender=Order, order=order)
    order_events_emit(order, events.ORDER_COMPLETED)
    if refunded:
        signals.order_refund_recorded.send(sender=Order, order=order, amount_refunded_minor=refunded, refunded_at=now)
    if full:  # refunded before it completed: never installed, nothing to pay out
        Order.objects.filter(pk=order.pk).update(status=Order.Status.REFUNDED, refunded_at=now, updated_at=now)
        order.refresh_from_db()
        signals.order_refunded.send(sender=Order, order=order, reversed_minor=0, refunded_at=now)
        order_events_emit(order, events.ORDER_REFUNDED)
        return _processed(f"order {order.pk} completed refunded in full (refunded before it completed)")
    return _processed(f"order {order.pk} completed" + (f", {refunded} of it refunded already" if refunded else "")
                      + twice)


def order_checkout_expired(event: StripeEvent) -> Outcome:
    """checkout.session.expired (or async_payment_failed: the delayed payment failed) of an order:
    the pending order expired (a paid one is untouched); the buyer can start again."""
    data = event.payload["data"]["object"]
    order = _order_of_session(data)
    if order is None:
        return _ignored(f"checkout session {data.get('id')} is no order of ours")
    changed = Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).update(
        status=Order.Status.EXPIRED, updated_at=timezone.now())
    failed = event.type == "checkout.session.async_payment_failed"
    if changed:
        return _processed(f"order {order.pk} expired" + (": the delayed payment failed" if failed else ""))
    return _processed(f"order {order.pk} is {order.status}: unchanged")


def _order_ref(value: str) -> Order | None:
    try:
        return Order.objects.filter(pk=value).first() if value else None
    except (ValidationError, ValueError, TypeError):  # not a UUID: no order of ours
        return None


def _order_of_charge(data: dict) -> Order | None:
    """The order of a charge: by its id or payment intent (known once the order completed), else
    by the transfer group (order_<id>) or the order_id in its metadata, which the charge carries
    from its payment intent before the order completes."""
    charge_id, intent_id = _id(data.get("id")), _id(data.get("payment_intent"))
    found = Order.objects.filter(charge_id=charge_id).first() if charge_id else None
    if found is None and intent_id:
        found = Order.objects.filter(payment_intent_id=intent_id).first()
    if found is not None:
        return found
    group = data.get("transfer_group") or ""
    found = _order_ref(group.removeprefix("order_")) if group.startswith("order_") else None
    if found is None:
        found = _order_ref((data.get("metadata") or {}).get("order_id") or "")
    if found is not None and (found.charge_id or found.payment_intent_id):
        return None  # the order knows its charge and intent, and this is neither: not its charge
    return found


def order_charge_refunded(event: StripeEvent, *, refunded_at) -> str:
    """charge.refunded of an order's charge (billing's charge_refunded was sent already). Returns a
    note for the event ("" when the charge is no order's)."""
    data = event.payload["data"]["object"]
    order = _order_of_charge(data)
    if order is None:
        return ""
    why = _mode_mismatch(event, order)
    if why:
        return why
    refunded = min(int(data.get("amount_refunded") or 0), order.amount_minor)
    now = timezone.now()
    order = Order.objects.select_for_update().get(pk=order.pk)
    increased = refunded > order.amount_refunded_minor
    if increased:
        Order.objects.filter(pk=order.pk).update(amount_refunded_minor=refunded, updated_at=now)
        order.amount_refunded_minor = refunded
    if order.status in (Order.Status.PENDING, Order.Status.EXPIRED):
        return (f"order {order.pk} is {order.status}: refund of {refunded} recorded, applied when it completes")
    if increased and order.status in (*PAID_STATUSES, Order.Status.REFUNDED):
        signals.order_refund_recorded.send(sender=Order, order=order, amount_refunded_minor=refunded,
                                           refunded_at=refunded_at or now)
    paid = Payout.objects.filter(order=order, status__in=REVERSIBLE).first()
    order_pk = str(order.pk)
    if refunded < order.amount_minor:
        if increased and paid is not None:  # the partner's share of it taken back now, not at the nightly sweep
            transaction.on_commit(lambda: task_enqueue(PAYOUT_REVERSE_TASK, order_pk))
        return f"order {order.pk}: partial refund ({refunded} of {order.amount_minor}), the order stands"
    if order.status not in PAID_STATUSES:
        return f"order {order.pk} is {order.status}: unchanged"
    reversed_minor = payout_reversal_target(order=order, payout=paid) if paid is not None else 0
    order.status, order.refunded_at = Order.Status.REFUNDED, refunded_at or now
    order.save(update_fields=["status", "refunded_at", "updated_at"])
    for install in Installation.objects.filter(order=order, uninstalled_at__isnull=True).select_related("user"):
        listing_uninstall(user=install.user, installation=install)
    signals.order_refunded.send(sender=Order, order=order, reversed_minor=reversed_minor,
                                refunded_at=order.refunded_at)
    order_events_emit(order, events.ORDER_REFUNDED)
    transaction.on_commit(lambda: task_enqueue(PAYOUT_REVERSE_TASK, order_pk))
    return f"order {order.pk} refunded" + (f", partner's {reversed_minor} to reverse" if reversed_minor else "")
