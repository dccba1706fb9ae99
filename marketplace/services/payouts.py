"""Paying partners: the daily run that transfers each completed order's partner share (Stripe
Connect) once its hold period is over, and why an order due is held.

Never twice: an order has at most one Payout (OneToOne), created as the claim before Stripe is
asked, and the transfer carries the payout's idempotency key (payout-<order id>), so a rerun or
two runs at once make one transfer (Stripe answers a repeated key with the same transfer). Stripe
also keeps a refusal (4xx) for its key, and a refusal means no transfer was made: the next attempt
uses a new key, payout-<order id>-<attempt>, kept on the payout. A payout left `pending` (Stripe
unreachable or failing: the transfer may exist) is looked up at Stripe first (transfers with
transfer_group order_<id>) and settled with the one found; only when there is none is it sent
again, with the same key. Stripe is asked outside any transaction; the results are compare-and-set
updates (a payout becomes paid once; an order moves completed -> paid_out only if still completed).

A partially refunded order is paid what is left of the partner's share: share - share * refunded //
amount (order_payout_amount, the reversal's formula). A refund after the payout is taken back by a
transfer reversal (payout_reversals.py); a payout still pending when its order was refunded in
full is settled by the run's sweep if Stripe made it, then reversed.

Held, not stored as a state: an order due whose partner has no connected account in the order's
mode, whose account cannot receive payouts yet, or whose partner is suspended (or no longer
approved) waits; payout_hold_reason() says why, for the run's summary, admin and /partners."""

import logging
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.webhooks.services import webhook_event_emit
from marketplace import events, signals
from marketplace.models import ConnectAccount, Order, Payout
from marketplace.services.payout_reversals import REVERSIBLE, order_payout_amount, payout_reversal_target
from marketplace.stripe_api import stripe_client, stripe_configured, stripe_errors
from partners.models import Partner

logger = logging.getLogger("levqor.billing")

HOLD_NO_ACCOUNT = "no Stripe account"
HOLD_NOT_ENABLED = "payouts not enabled"
HOLD_SUSPENDED = "partner suspended"
HOLD_NOT_APPROVED = "partner not approved"
HOLD_DISPUTED = "disputed"


def payout_idempotency_key(order: Order, *, attempt: int = 1) -> str:
    """The transfer's key for this attempt: payout-<order>, then payout-<order>-<attempt> after
    each refusal (Stripe keeps a refused answer for its key)."""
    return f"payout-{order.pk}" if attempt <= 1 else f"payout-{order.pk}-{attempt}"


def payout_hold_reason(*, partner: Partner, account: ConnectAccount | None, order: Order | None = None) -> str:
    """Why an order of `partner` that is due cannot be paid now ("" when it can): the order's charge
    is disputed (when the order is given), the partner is suspended or not approved, has no
    connected account in the order's mode, or Stripe does not let the account receive payouts yet."""
    if order is not None and order.disputed_at is not None:
        return HOLD_DISPUTED
    if partner.status == Partner.Status.SUSPENDED:
        return HOLD_SUSPENDED
    if not partner.is_approved:
        return HOLD_NOT_APPROVED
    if account is None:
        return HOLD_NO_ACCOUNT
    if not account.payouts_enabled:
        return HOLD_NOT_ENABLED
    return ""


def orders_due(*, now: datetime | None = None):
    """Completed, not fully refunded orders with a partner share whose hold is over and that are
    not paid yet (a partial refund lowers what is paid, order_payout_amount): no payout, or one to
    try again (pending: claimed but not finished; failed: attempts left), or paid at Stripe but
    the order not moved yet. Oldest due first."""
    now = now or timezone.now()
    again = Q(payout__status__in=[Payout.Status.PENDING, Payout.Status.PAID]) | Q(
        payout__status=Payout.Status.FAILED, payout__attempts__lt=settings.PAYOUT_MAX_ATTEMPTS)
    return (Order.objects.filter(status=Order.Status.COMPLETED, payout_due_at__lte=now, amount_minor__gt=0,
                                 partner_share_minor__gt=0, refunded_at__isnull=True,
                                 amount_refunded_minor__lt=F("amount_minor"))
            .filter(Q(payout__isnull=True) | again)
            .select_related("partner", "listing", "payout").order_by("payout_due_at", "pk"))


def connect_accounts_for(orders: list[Order]) -> dict[tuple, ConnectAccount]:
    partner_ids = {o.partner_id for o in orders}
    return {(a.partner_id, a.livemode): a for a in ConnectAccount.objects.filter(partner_id__in=partner_ids)}


def payouts_run(*, now: datetime | None = None, limit: int = 500, dry_run: bool = False,
                progress: Callable[[Order, str], None] | None = None) -> dict:
    """Transfer every due order's partner share (at most `limit` orders), then take back what
    refunds of paid orders owe (reversals a failed task left). Returns the counts: due, paid,
    failed, held (with the reasons), skipped (another run has it, or its mode has no Stripe key),
    reversed; `stopped` when Stripe could not be reached (the rest waits for the next run).
    dry_run: nothing is claimed or asked of Stripe; `paid` counts what would be paid. progress:
    called with each order and what happened to it (paid, failed, held: <reason>, skipped...)."""
    def told(order: Order, outcome: str) -> None:
        if progress is not None:
            progress(order, outcome)

    now = now or timezone.now()
    orders = list(orders_due(now=now)[:limit])
    accounts = connect_accounts_for(orders)
    summary = {"due": len(orders), "paid": 0, "failed": 0, "held": 0, "held_reasons": {}, "skipped": 0,
               "reversed": 0, "stopped": False, "dry_run": dry_run}
    for order in orders:
        account = accounts.get((order.partner_id, order.livemode))
        payout = getattr(order, "payout", None)
        if payout is not None and payout.status == Payout.Status.PAID:
            outcome = "paid" if dry_run else _payout_settle(payout, order=order, transfer_id=payout.stripe_transfer_id)
            summary[outcome] += 1
            told(order, outcome)
            continue
        reason = payout_hold_reason(partner=order.partner, account=account, order=order)
        if reason:
            summary["held"] += 1
            summary["held_reasons"][reason] = summary["held_reasons"].get(reason, 0) + 1
            told(order, f"held: {reason}")
            continue
        if not stripe_configured(livemode=order.livemode):
            summary["skipped"] += 1
            told(order, "skipped: Stripe is not configured for its mode")
            continue
        if dry_run:
            summary["paid"] += 1
            told(order, "would be paid")
            continue
        outcome = payout_make(order=order, account=account)
        told(order, outcome)
        if outcome == "unreachable":
            summary["stopped"] = True
            break
        summary[outcome] += 1
    if not dry_run and not summary["stopped"]:
        from marketplace.services.payout_reversals import payout_reversals_due

        payouts_pending_of_refunded_settle(limit=limit)  # settled first, so the sweep reverses them
        summary["reversed"] = payout_reversals_due(limit=limit)
    logger.info("payouts run: %s", summary)
    return summary


def _claim(order: Order, account: ConnectAccount, *, force: bool = False) -> tuple[Payout | None, bool]:
    """The order's payout, claimed for this attempt, and whether it was left pending by an earlier
    one (its transfer may exist): created (pending), or an existing pending or failed one (with
    attempts left, unless forced by an operator). (None, False) when another run has just taken it.
    A new or failed one is for what the partner is owed now (order_payout_amount)."""
    payout = Payout.objects.filter(order=order).first()
    if payout is None:
        try:
            with transaction.atomic():
                return Payout.objects.create(
                    order=order, partner=order.partner, connect_account=account, livemode=order.livemode,
                    amount_minor=order_payout_amount(order), currency=order.currency,
                    idempotency_key=payout_idempotency_key(order)), False
        except IntegrityError:  # another run claimed it first: it pays, this one does not
            return None, False
    if payout.status == Payout.Status.FAILED:
        if payout.attempts >= settings.PAYOUT_MAX_ATTEMPTS and not force:
            return None, False
        amount = order_payout_amount(order)  # a refused transfer made nothing; its next key may ask another amount
        if not Payout.objects.filter(pk=payout.pk, status=Payout.Status.FAILED).update(
                status=Payout.Status.PENDING, connect_account=account, amount_minor=amount):
            return None, False
        payout.status, payout.connect_account, payout.amount_minor = Payout.Status.PENDING, account, amount
        return payout, False
    return (payout, True) if payout.status == Payout.Status.PENDING else (None, False)


def payout_transfer_find(payout: Payout) -> str:
    """The id of the transfer Stripe made for this payout ("" when none): the transfers of the
    order's transfer group, the one naming this payout in its metadata first. Stripe's errors as
    AppError."""
    with stripe_errors():
        found = stripe_client(livemode=payout.livemode).v1.transfers.list(
            params={"transfer_group": f"order_{payout.order_id}", "limit": 10})
    transfers = [t.to_dict() if hasattr(t, "to_dict") else t for t in found.data]
    ours = [t for t in transfers if (t.get("metadata") or {}).get("payout_id") == str(payout.pk)]
    chosen = (ours or transfers or [None])[0]
    return chosen["id"] if chosen else ""


def payout_make(*, order: Order, account: ConnectAccount, force: bool = False) -> str:
    """Claim and pay one due order: "paid", "failed" (Stripe refused: counted, retried by the next
    run with a new key while attempts remain), "skipped" (another run has it) or "unreachable"
    (Stripe could not be reached: the payout stays pending; the next run looks for its transfer,
    then tries again with the same key)."""
    payout, left_pending = _claim(order, account, force=force)
    if payout is None:
        return "skipped"
    if left_pending:
        try:
            transfer_id = payout_transfer_find(payout)
        except AppError as exc:
            if exc.code in (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.BILLING_NOT_CONFIGURED):
                logger.warning("payout of order %s: Stripe unreachable; the run stops", order.pk)
                return "unreachable"
            transfer_id = ""  # the same key below cannot make a second transfer
        if transfer_id:
            return _payout_settle(payout, order=order, transfer_id=transfer_id)
    params = {"amount": payout.amount_minor, "currency": payout.currency, "destination": account.stripe_account_id,
              "transfer_group": f"order_{order.pk}", "metadata": {"order_id": str(order.pk),
                                                                  "payout_id": str(payout.pk)}}
    if order.charge_id:
        # Funds from the order's own charge: the transfer waits for them instead of failing on a short balance.
        params["source_transaction"] = order.charge_id
    try:
        with stripe_errors():
            transfer = stripe_client(livemode=order.livemode).v1.transfers.create(
                params=params, options={"idempotency_key": payout.idempotency_key})
    except AppError as exc:
        if exc.code in (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.BILLING_NOT_CONFIGURED):
            Payout.objects.filter(pk=payout.pk, status=Payout.Status.PENDING).update(error=exc.message[:500])
            logger.warning("payout of order %s: Stripe unreachable; the run stops", order.pk)
            return "unreachable"
        if (exc.details or {}).get("stripe_status") == 409:
            # The same key is being used by a request still in flight: its outcome is unknown; the
            # payout stays pending (looked up at Stripe next time), never gets a new key.
            Payout.objects.filter(pk=payout.pk, status=Payout.Status.PENDING).update(error=exc.message[:500])
            return "skipped"
        stripe_code = (exc.details or {}).get("stripe_code") or ""
        error = f"Stripe refused the transfer{f' ({stripe_code})' if stripe_code else ''}: {exc.message}"
        with transaction.atomic():  # nothing was made: the next attempt gets a key Stripe has no answer saved for
            Payout.objects.filter(pk=payout.pk, status=Payout.Status.PENDING).update(
                status=Payout.Status.FAILED, attempts=payout.attempts + 1, error=error[:500],
                idempotency_key=payout_idempotency_key(order, attempt=payout.attempts + 2))
        logger.warning("payout of order %s refused by Stripe (attempt %s)", order.pk, payout.attempts + 1)
        return "failed"
    return _payout_settle(payout, order=order, transfer_id=transfer.id)


def _payout_settle(payout: Payout, *, order: Order, transfer_id: str) -> str:
    """The transfer was made: the payout paid (once), the order paid_out if it is still completed,
    payout_paid and payout.paid to the partner. What refunds made meanwhile owe of it (an order
    refunded meanwhile keeps its status) is reversed at once."""
    now = timezone.now()
    with transaction.atomic():
        newly_paid = Payout.objects.filter(pk=payout.pk, status__in=[Payout.Status.PENDING, Payout.Status.FAILED]
                                           ).update(status=Payout.Status.PAID, stripe_transfer_id=transfer_id,
                                                    paid_at=now, error="")
        moved = Order.objects.filter(pk=order.pk, status=Order.Status.COMPLETED).update(
            status=Order.Status.PAID_OUT, paid_out_at=now, updated_at=now)
        payout.refresh_from_db()
        order.refresh_from_db()
        if newly_paid:
            signals.payout_paid.send(sender=Payout, payout=payout, order=order)
            transaction.on_commit(lambda: _payout_paid_emit(payout, order))
    if payout.status in REVERSIBLE and payout_reversal_target(order=order, payout=payout) > payout.amount_reversed_minor:
        from marketplace.services.payout_reversals import payout_reverse_for_order

        try:
            payout_reverse_for_order(order_id=order.pk)
        except AppError:  # the run's reversal sweep (and the refund's task) try again
            logger.warning("payout of refunded order %s: reversal failed, retried later", order.pk, exc_info=True)
    return "paid" if newly_paid or moved else "skipped"


def payout_data(payout: Payout) -> dict:
    """A payout as the partner sees it (payout.paid's data, the API)."""
    return {"id": payout.pk, "order_id": str(payout.order_id), "amount_minor": payout.amount_minor,
            "currency": payout.currency, "status": payout.status, "livemode": payout.livemode,
            "stripe_transfer_id": payout.stripe_transfer_id, "amount_reversed_minor": payout.amount_reversed_minor,
            "paid_at": payout.paid_at.isoformat() if payout.paid_at else None,
            "reversed_at": payout.reversed_at.isoformat() if payout.reversed_at else None}


def _payout_paid_emit(payout: Payout, order: Order) -> None:
    try:
        webhook_event_emit(owner=order.partner.owner, audience="partner", event_type=events.PAYOUT_PAID,
                           data=lambda: {**payout_data(payout), "listing_id": str(order.listing_id)},
                           key=f"{events.PAYOUT_PAID}:{payout.pk}", source="marketplace")
    except Exception:  # after the commit: the payout is paid; a lost notice is logged, not retried
        logger.warning("payout.paid of payout %s not queued", payout.pk, exc_info=True)


def payouts_retry(*, payouts) -> int:
    """An operator's "retry failed payouts now": each failed payout's order paid now (with the key
    of its next attempt), even when its attempts are spent (each still counted); held partners stay
    held. How many were paid."""
    paid = 0
    for payout in payouts:
        if payout.status != Payout.Status.FAILED:
            continue
        order = Order.objects.select_related("partner").get(pk=payout.order_id)
        if order.status != Order.Status.COMPLETED:
            continue
        account = ConnectAccount.objects.filter(partner_id=order.partner_id, livemode=order.livemode).first()
        if payout_hold_reason(partner=order.partner, account=account, order=order):
            continue
        if payout_make(order=order, account=account, force=True) == "paid":
            paid += 1
    return paid


def payouts_pending_of_refunded_settle(*, limit: int = 500) -> int:
    """Payouts left pending (Stripe's answer unknown) whose order was refunded in full meanwhile
    (orders_due no longer lists them): settled with the transfer Stripe made, which is then
    reversed, or failed when Stripe has none (nothing was paid, nothing is owed). How many were
    settled."""
    settled = 0
    pending = (Payout.objects.filter(status=Payout.Status.PENDING, order__status=Order.Status.REFUNDED)
               .select_related("order").order_by("pk")[:limit])
    for payout in pending:
        try:
            transfer_id = payout_transfer_find(payout)
        except AppError:
            logger.warning("pending payout %s of a refunded order: Stripe not asked; next run", payout.pk, exc_info=True)
            continue
        if transfer_id:
            _payout_settle(payout, order=payout.order, transfer_id=transfer_id)
            settled += 1
        else:
            Payout.objects.filter(pk=payout.pk, status=Payout.Status.PENDING).update(
                status=Payout.Status.FAILED, error="the order was refunded before a transfer was made; nothing is owed")
    return settled
