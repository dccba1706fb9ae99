"""The marketplace's orders in the profit ledger (connected to marketplace's signals in
IntelligenceConfig.ready; marketplace never imports intelligence).

On order_completed of a live paid order:
    revenue, stripe_fee   from the charge's balance transaction, after the commit
                          (ledger_stripe_charge_record, as for a paid invoice)
    payout (pending)      the partner's share, owed    payout:<order id>
    platform_fee          amount - partner share        order:<order id>:platform_fee
On order_refunded (refunded in full):
    payout_reversal       when the payout was still owed (never paid), it is cleared (no longer
                          pending) and reversed whole, so the order's payouts net to zero
                                                        order:<order id>:payout_reversal
                          (a payout made is taken back by Stripe reversals: payout_reversed)
    (the refund itself comes from billing's charge_refunded: ledger_stripe.ledger_on_charge_refunded)
On order_refund_recorded (each increase of an order's refund, partial or full):
    platform_fee_reversal the platform fee's share of the total refunded, less what was recorded
                          order:<order id>:platform_fee_reversal:<total refunded>
On payout_paid: the order's payout settled (ledger_payout_settle); a payout made for less than the
    share (a partial refund came first) records the difference as taken back
                                                        order:<order id>:payout_withheld
On payout_reversed (one Stripe transfer reversal):
    payout_reversal       what that reversal took back  payout_reversal:<reversal id>
    Never with order:<order id>:payout_reversal: when that exists (the order was refunded in full
    while its payout was still owed, and Stripe made the transfer after all), the order's payouts
    net to zero already and neither the withheld part nor a reversal is recorded again.

Revenue and fee are asked of Stripe after the commit; when Stripe cannot be reached then, the daily
ledger reconcile (ledger_orders_reconcile, beside ledger_stripe_reconcile) asks again for live paid
orders completed in the last LEDGER_RECONCILE_DAYS whose charge has no revenue entry.

Test-mode orders and free ones write nothing. Payout and platform-fee entries are written in the
transaction that moved the order (they commit with it); sources are unique, so an event processed
again adds nothing."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from intelligence.models import LedgerEntry
from intelligence.services.ledger import (
    ledger_entry_record,
    ledger_payout_record,
    ledger_payout_reversal_source,
    ledger_payout_reverse,
    ledger_payout_settle,
)
from intelligence.services.ledger_stripe import _record_after_commit, ledger_stripe_charge_record
from levqor.errors import AppError, ErrorCode

logger = logging.getLogger(__name__)


def _counts(order) -> bool:
    return bool(order.livemode and order.amount_minor > 0)


def ledger_on_order_completed(sender, *, order, **kwargs) -> None:
    """A live paid order completed: its revenue and Stripe fee (after the commit), the partner's
    share owed, the platform's fee."""
    if not _counts(order):
        return
    day, ref = order.completed_at.date(), str(order.pk)
    if order.charge_id:
        _record_after_commit(ledger_stripe_charge_record, charge_id=order.charge_id, user=order.buyer)
    else:
        logger.warning("ledger: a completed order without a charge; its revenue is not recorded",
                       extra={"order_id": ref})
    if order.partner_share_minor > 0:
        ledger_payout_record(order_ref=ref, amount_minor=order.partner_share_minor, currency=order.currency, day=day,
                             pending=True)
    if order.platform_fee_minor > 0:
        ledger_entry_record(day=day, kind=LedgerEntry.Kind.PLATFORM_FEE, amount_minor=order.platform_fee_minor,
                            currency=order.currency, source=f"order:{ref}:platform_fee", user=order.buyer,
                            memo=f"order {ref} of listing {order.listing_id}")


def ledger_on_order_refunded(sender, *, order, reversed_minor, refunded_at, **kwargs) -> None:
    """A live paid order refunded in full: a payout still owed cleared and reversed whole
    (ledger_payout_reverse). What was taken back of a payout made is recorded per Stripe reversal
    (ledger_on_payout_reversed), never here: reversed_minor is not recorded again."""
    if not _counts(order):
        return
    ledger_payout_reverse(order_ref=str(order.pk), amount_minor=0, currency=order.currency,
                          day=(refunded_at or order.refunded_at).date())


def _netted_already(order) -> bool:
    return LedgerEntry.objects.filter(source=ledger_payout_reversal_source(str(order.pk))).exists()


def ledger_on_order_refund_recorded(sender, *, order, amount_refunded_minor, refunded_at, **kwargs) -> None:
    """More of a live paid order refunded: the platform fee's share of it given back (cumulative,
    one entry per refunded total, so an event processed again adds nothing)."""
    if not _counts(order) or order.platform_fee_minor <= 0:
        return
    ref = str(order.pk)
    refunded = min(int(amount_refunded_minor or 0), order.amount_minor)
    target = order.platform_fee_minor * refunded // order.amount_minor
    prefix = f"order:{ref}:platform_fee_reversal:"
    recorded = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PLATFORM_FEE_REVERSAL, source__startswith=prefix
                                          ).aggregate(total=Sum("amount_minor"))["total"] or 0
    if target > recorded:
        ledger_entry_record(day=(refunded_at or timezone.now()).date(), kind=LedgerEntry.Kind.PLATFORM_FEE_REVERSAL,
                            amount_minor=target - recorded, currency=order.currency, source=f"{prefix}{refunded}",
                            user=order.buyer, memo=f"order {ref}: {refunded} refunded")


def ledger_on_payout_paid(sender, *, payout, order, **kwargs) -> None:
    """A partner's share transferred: its payout no longer owed (recorded paid if it was missing).
    Paid less than the share recorded (a partial refund came first): the difference as a
    payout_reversal, so payouts net to what was transferred."""
    if not order.livemode:
        return
    try:
        entry = ledger_payout_settle(order_ref=str(order.pk))
    except AppError as exc:
        if exc.code != ErrorCode.NOT_FOUND:
            raise
        day = (payout.paid_at or order.completed_at).date()
        ledger_payout_record(order_ref=str(order.pk), amount_minor=payout.amount_minor, currency=payout.currency,
                             day=day, pending=False)
        return
    withheld = entry.amount_minor - payout.amount_minor
    if withheld > 0 and not _netted_already(order):
        ledger_entry_record(day=(payout.paid_at or timezone.now()).date(), kind=LedgerEntry.Kind.PAYOUT_REVERSAL,
                            amount_minor=withheld, currency=payout.currency, source=f"order:{order.pk}:payout_withheld",
                            memo=f"order {order.pk}: refunded in part before its payout")


def ledger_on_payout_reversed(sender, *, payout, order, reversal_id, amount_minor, reversed_at, **kwargs) -> None:
    """A Stripe reversal of a live payout: what it took back, once per reversal id (never when the
    order's payouts were netted to zero already at its refund)."""
    if not order.livemode or amount_minor <= 0 or _netted_already(order):
        return
    ledger_entry_record(day=reversed_at.date(), kind=LedgerEntry.Kind.PAYOUT_REVERSAL, amount_minor=int(amount_minor),
                        currency=payout.currency, source=f"payout_reversal:{reversal_id}",
                        memo=f"order {order.pk}: reversal {reversal_id}")


def ledger_orders_reconcile(*, days: int | None = None, now: datetime | None = None) -> dict:
    """Record the revenue and fee the ledger misses of live paid orders completed in the last
    `days` days (LEDGER_RECONCILE_DAYS): Stripe is asked only about charges with no revenue entry;
    re-running adds nothing. Stops at the first sign of Stripe being unreachable. Returns counts:
    orders, asked, recorded, failed, stopped."""
    from marketplace.models import Order

    since = (now or timezone.now()) - timedelta(days=days or settings.LEDGER_RECONCILE_DAYS)
    orders = (Order.objects.filter(livemode=True, amount_minor__gt=0, completed_at__gte=since)
              .exclude(charge_id="").select_related("buyer").order_by("completed_at"))
    summary = {"orders": 0, "asked": 0, "recorded": 0, "failed": 0, "stopped": False}
    for order in orders.iterator(chunk_size=200):
        summary["orders"] += 1
        if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVENUE, source__startswith=f"stripe:{order.charge_id}:").exists():
            continue
        summary["asked"] += 1
        try:
            summary["recorded"] += len(ledger_stripe_charge_record(charge_id=order.charge_id, user=order.buyer))
        except AppError as exc:
            summary["failed"] += 1
            logger.warning("ledger reconcile: Stripe could not be asked about an order's charge",
                           extra={"order_id": str(order.pk), "error": str(exc.code)})
            if exc.code in (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.BILLING_NOT_CONFIGURED):
                summary["stopped"] = True
                break
    return summary


def ledger_marketplace_connect() -> None:
    from marketplace.signals import (
        order_completed,
        order_refund_recorded,
        order_refunded,
        payout_paid,
        payout_reversed,
    )

    order_completed.connect(ledger_on_order_completed, dispatch_uid="ledger-order-completed")
    order_refunded.connect(ledger_on_order_refunded, dispatch_uid="ledger-order-refunded")
    order_refund_recorded.connect(ledger_on_order_refund_recorded, dispatch_uid="ledger-order-refund-recorded")
    payout_paid.connect(ledger_on_payout_paid, dispatch_uid="ledger-payout-paid")
    payout_reversed.connect(ledger_on_payout_reversed, dispatch_uid="ledger-payout-reversed")
