"""Taking a partner's share back after a refund of an order whose payout was made: a reversal of
the Stripe transfer for the partner's share of what was refunded.

The amount is proportional and cumulative: the order's refunds owe partner_share_minor *
amount_refunded_minor // amount_minor (order_refund_share, the same formula that lowers a payout
made after a partial refund), less what the payout already left out (partner share - payout
amount), never more than was transferred; each call reverses only what that target adds to what
was reversed already. The idempotency key names the order and the target
(payout-reversal-<order>-<target>), so a retried task gets the same reversal from Stripe and a
later, larger refund makes a new one. A refusal by Stripe (4xx: no reversal was made) is saved by
Stripe for its key, so the next try uses a new key (-2, -3...; the key in use is kept on the
payout, reversal_idempotency_key); an unknown outcome (unreachable, 5xx) keeps the key.

The refund handler enqueues marketplace.tasks.payout_reverse_for_order(order_id) on every new
refund of an order paid out; the daily payouts run sweeps up what a failed task left
(payout_reversals_due). Every reversal made sends signals.payout_reversed (the ledger records it
once per Stripe reversal id)."""

import logging

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from marketplace import signals
from marketplace.models import Order, Payout
from marketplace.stripe_api import stripe_client, stripe_errors

logger = logging.getLogger("levqor.billing")

REVERSIBLE = (Payout.Status.PAID, Payout.Status.REVERSED)


def order_refund_share(order: Order) -> int:
    """The partner's share of what the order's refunds gave back (minor units, truncated)."""
    if order.amount_minor <= 0:
        return 0
    return order.partner_share_minor * min(order.amount_refunded_minor, order.amount_minor) // order.amount_minor


def order_payout_amount(order: Order) -> int:
    """What the partner is paid for the order now: its share less its share of the refunds."""
    return max(0, order.partner_share_minor - order_refund_share(order))


def payout_reversal_target(*, order: Order, payout: Payout) -> int:
    """How much of the payout the order's refunds take back in all (minor units): their share of
    the partner's cut, less what the payout left out already (made after a partial refund)."""
    withheld = max(0, order.partner_share_minor - payout.amount_minor)
    return max(0, min(order_refund_share(order) - withheld, payout.amount_minor))


def payout_reversal_idempotency_key(*, order: Order, target: int, payout: Payout | None = None) -> str:
    """The key of the reversal up to `target`: payout-reversal-<order>-<target>, or the newer one
    kept on the payout after Stripe refused that (…-<target>-2, -3...)."""
    base = f"payout-reversal-{order.pk}-{target}"
    kept = payout.reversal_idempotency_key if payout is not None else ""
    return kept if kept.startswith(base + "-") else base


def _reversal_key_next(key: str, *, order: Order, target: int) -> str:
    base = f"payout-reversal-{order.pk}-{target}"
    tail = key[len(base) + 1:] if key.startswith(base + "-") else ""
    return f"{base}-{int(tail) + 1 if tail.isdigit() else 2}"


def payout_reverse_for_order(*, order_id) -> int:
    """Reverse what the order's refunds owe of its paid payout: the amount reversed now (0 when
    nothing is owed: no payout made, never paid, or reversed up to the target already). Stripe's
    errors as AppError (the task fails; the daily run tries again)."""
    order = Order.objects.filter(pk=order_id).first()
    payout = Payout.objects.filter(order_id=order_id).first()
    if order is None or payout is None or payout.status not in REVERSIBLE or not payout.stripe_transfer_id:
        return 0
    target = payout_reversal_target(order=order, payout=payout)
    amount = target - payout.amount_reversed_minor
    if amount <= 0:
        return 0
    key = payout_reversal_idempotency_key(order=order, target=target, payout=payout)
    try:
        with stripe_errors():
            reversal = stripe_client(livemode=payout.livemode).v1.transfers.reversals.create(
                payout.stripe_transfer_id,
                params={"amount": amount, "metadata": {"order_id": str(order.pk), "payout_id": str(payout.pk)}},
                options={"idempotency_key": key})
    except AppError as exc:
        refused = exc.code == ErrorCode.BILLING_PROVIDER_ERROR and (exc.details or {}).get("stripe_status") != 409
        if refused:  # nothing made; Stripe keeps that answer for the key (a 409: the key in flight, kept)
            Payout.objects.filter(pk=payout.pk, reversal_idempotency_key=payout.reversal_idempotency_key).update(
                reversal_idempotency_key=_reversal_key_next(key, order=order, target=target))
        raise
    now = timezone.now()
    with transaction.atomic():
        changed = Payout.objects.filter(pk=payout.pk, amount_reversed_minor__lt=target).update(
            status=Payout.Status.REVERSED, amount_reversed_minor=target, stripe_reversal_id=reversal.id,
            reversal_idempotency_key=key, reversed_at=now)
        if changed:
            payout.refresh_from_db()
            signals.payout_reversed.send(sender=Payout, payout=payout, order=order, reversal_id=reversal.id,
                                         amount_minor=amount, reversed_at=now)
    logger.info("payout %s of order %s: %s reversed (%s in all)", payout.pk, order.pk, amount, target)
    return amount if changed else 0


def payout_reversals_due(*, limit: int = 500) -> int:
    """Reverse what refunded orders with a paid payout still owe (a task lost or failed). How many
    payouts were reversed now."""
    candidates = (Payout.objects.filter(status__in=REVERSIBLE, order__amount_refunded_minor__gt=0)
                  .exclude(stripe_transfer_id="").filter(amount_reversed_minor__lt=F("amount_minor"))
                  .select_related("order").order_by("pk")[:limit])
    done = 0
    for payout in candidates:
        if payout_reversal_target(order=payout.order, payout=payout) <= payout.amount_reversed_minor:
            continue
        try:
            if payout_reverse_for_order(order_id=payout.order_id):
                done += 1
        except Exception:
            logger.warning("reversal of payout %s failed; tried again next run", payout.pk, exc_info=True)
    return done
