"""Revenue, refunds and Stripe's fees in the ledger, from Stripe's balance transactions.

Billing sends marketplace.signals.invoice_paid / charge_refunded while it processes a webhook
event; the receivers here (connected in IntelligenceConfig.ready) ask Stripe for the balance
transactions behind them once that processing has committed, and record:

    revenue      the charge's balance transaction amount     stripe:<charge>:<txn>:revenue
    stripe_fee   its fee                                     stripe:<charge>:<txn>:fee
    refund       each succeeded refund's transaction amount  stripe:<charge>:<refund>:refund
    fee_refund   fees Stripe gave back on that refund        stripe:<charge>:<refund>:fee_refund

in the transaction's currency, on the transaction's created day (UTC). Which charge paid an invoice:
its `charge` on Stripe API versions before 2025-03-31.basil; from basil on (the SDK's pinned
version) the Invoice has no `charge`, its payments are listed instead (GET /v1/invoice_payments
?invoice=<id>, each payment's `charge`, or its payment intent's `latest_charge`), and the entries'
memo names the invoice so the reconcile can see it is recorded. Sources are unique, so
processing the same event again adds nothing; the charge id leads each source so the reconcile
can see what a charge already has without asking Stripe. Only live-mode money is recorded:
test-mode events are not revenue.

Why after commit and not inside billing's transaction: a Stripe call can take seconds (timeout and
retries), which would hold the database write lock billing's transaction holds. When Stripe cannot
be reached, or refuses, the entry is not lost: the daily reconcile (ledger_stripe_reconcile, 01:00
UTC) walks the processed invoice.paid / charge.refunded events of the last
LEDGER_RECONCILE_DAYS days and records what is missing."""

import logging
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from intelligence.models import LedgerEntry
from intelligence.services.ledger import ledger_entry_record
from levqor.errors import AppError, ErrorCode

logger = logging.getLogger(__name__)

RECONCILED_TYPES = ("invoice.paid", "charge.refunded")


def _day(epoch: int) -> date:
    return datetime.fromtimestamp(int(epoch), tz=UTC).date()


def _id(value) -> str:
    """A Stripe reference as its id, whether the field was expanded or not."""
    if isinstance(value, dict):
        return value.get("id") or ""
    return value or ""


def _charge_prefix(charge_id: str) -> str:
    return f"stripe:{charge_id}:"


def _invoice_memo(invoice_id: str) -> str:
    return f" of invoice {invoice_id}"


def ledger_stripe_charge_record(*, charge_id: str, user=None, invoice_id: str = "") -> list[LedgerEntry]:
    """Revenue and fee of a live charge from its balance transaction (Stripe is asked once, the
    transaction expanded). Returns the entries that were new; nothing when the charge has no
    balance transaction yet (not captured: the reconcile asks again). Raises AppError when Stripe
    cannot be reached or refuses (stripe_errors)."""
    from marketplace.stripe_api import stripe_client, stripe_errors

    with stripe_errors():
        charge = stripe_client(livemode=True).v1.charges.retrieve(
            charge_id, params={"expand": ["balance_transaction"]}).to_dict()
    txn = charge.get("balance_transaction")
    if not isinstance(txn, dict) or int(txn.get("amount") or 0) <= 0:
        logger.info("ledger: charge has no balance transaction yet", extra={"charge_id": charge_id})
        return []
    day, currency, prefix = _day(txn["created"]), txn["currency"], _charge_prefix(charge_id)
    memo = f"charge {charge_id}" + (_invoice_memo(invoice_id) if invoice_id else "")
    new = []
    with transaction.atomic():
        entry, created = ledger_entry_record(day=day, kind=LedgerEntry.Kind.REVENUE, amount_minor=int(txn["amount"]),
                                             currency=currency, source=f"{prefix}{txn['id']}:revenue", user=user,
                                             memo=memo)
        new += [entry] if created else []
        if int(txn.get("fee") or 0) > 0:
            entry, created = ledger_entry_record(day=day, kind=LedgerEntry.Kind.STRIPE_FEE, amount_minor=int(txn["fee"]),
                                                 currency=currency, source=f"{prefix}{txn['id']}:fee", user=user,
                                                 memo=memo)
            new += [entry] if created else []
    return new


def ledger_stripe_invoice_charges(*, invoice_id: str) -> list[str]:
    """The charges that paid a live invoice, from its paid invoice payments (API >= basil, where
    the Invoice no longer names its charge): a payment's own `charge`, or its payment intent's
    `latest_charge` (the intent expanded). Raises AppError when Stripe cannot be reached or refuses."""
    from marketplace.stripe_api import stripe_client, stripe_errors

    with stripe_errors():
        listed = stripe_client(livemode=True).v1.invoice_payments.list(
            params={"invoice": invoice_id, "status": "paid", "limit": 100,
                    "expand": ["data.payment.payment_intent"]})
        payments = [payment.to_dict() for payment in listed.auto_paging_iter()]
    charges = []
    for payment in payments:
        paid_by = payment.get("payment") or {}
        intent = paid_by.get("payment_intent")
        charge_id = _id(paid_by.get("charge")) or (_id(intent.get("latest_charge")) if isinstance(intent, dict) else "")
        if charge_id and charge_id not in charges:
            charges.append(charge_id)
    return charges


def ledger_stripe_invoice_record(*, invoice_id: str, user=None) -> list[LedgerEntry]:
    """Revenue and fee of every charge that paid a live invoice whose payload names no charge
    (API >= basil). Returns the entries that were new; nothing while no payment has a charge yet."""
    charges = ledger_stripe_invoice_charges(invoice_id=invoice_id)
    if not charges:
        logger.info("ledger: the paid invoice has no charge among its payments yet", extra={"invoice_id": invoice_id})
    new = []
    for charge_id in charges:
        new += ledger_stripe_charge_record(charge_id=charge_id, user=user, invoice_id=invoice_id)
    return new


def ledger_stripe_refunds_record(*, charge_id: str, user=None) -> list[LedgerEntry]:
    """Every succeeded refund of a live charge from its balance transaction (Stripe is asked for
    the charge's refunds, their transactions expanded): a refund entry each, and a fee_refund
    where Stripe gave fees back (a negative fee), idempotent by the refund id. A refund still
    pending is left for the reconcile. Returns the entries that were new."""
    from marketplace.stripe_api import stripe_client, stripe_errors

    with stripe_errors():
        listed = stripe_client(livemode=True).v1.refunds.list(
            params={"charge": charge_id, "limit": 100, "expand": ["data.balance_transaction"]})
        refunds = [refund.to_dict() for refund in listed.auto_paging_iter()]
    prefix, new = _charge_prefix(charge_id), []
    with transaction.atomic():
        for refund in refunds:
            txn = refund.get("balance_transaction")
            if refund.get("status") != "succeeded" or not isinstance(txn, dict):
                continue
            day, currency, memo = _day(txn["created"]), txn["currency"], f"refund {refund['id']} of charge {charge_id}"
            amounts = [(LedgerEntry.Kind.REFUND, -int(txn["amount"]), "refund")]
            fee = int(txn.get("fee") or 0)
            if fee < 0:
                amounts.append((LedgerEntry.Kind.FEE_REFUND, -fee, "fee_refund"))
            elif fee > 0:  # a fee charged for refunding
                amounts.append((LedgerEntry.Kind.STRIPE_FEE, fee, "fee"))
            for kind, amount, suffix in amounts:
                if amount <= 0:
                    continue
                entry, created = ledger_entry_record(day=day, kind=kind, amount_minor=amount, currency=currency,
                                                     source=f"{prefix}{refund['id']}:{suffix}", user=user, memo=memo)
                new += [entry] if created else []
    return new


def _record_after_commit(record, *, user, **ids: str) -> None:
    def run():
        try:
            record(user=user, **ids)
        except AppError as exc:
            # Not lost: the daily reconcile records it from the stored event.
            logger.warning("ledger: Stripe could not be asked; the reconcile will record it",
                           extra={**ids, "error": str(exc.code)})

    transaction.on_commit(run, robust=True)


def ledger_on_invoice_paid(sender, *, user, livemode, invoice_id, charge_id, amount_minor, **kwargs) -> None:
    """marketplace.signals.invoice_paid: the charge's revenue and fee, once billing commits. Without
    a charge_id (API >= basil: the Invoice names none) the invoice's payments tell the charges."""
    if not livemode:
        return  # test-mode payments are not revenue
    if charge_id:
        _record_after_commit(ledger_stripe_charge_record, charge_id=charge_id, invoice_id=invoice_id, user=user)
    elif invoice_id and amount_minor > 0:
        _record_after_commit(ledger_stripe_invoice_record, invoice_id=invoice_id, user=user)
    else:
        logger.info("ledger: a paid invoice of nothing (nothing moved through Stripe's balance)",
                    extra={"invoice_id": invoice_id})


def ledger_on_charge_refunded(sender, *, user, livemode, charge_id, **kwargs) -> None:
    """marketplace.signals.charge_refunded: the charge's refunds, once billing commits."""
    if livemode and charge_id:
        _record_after_commit(ledger_stripe_refunds_record, charge_id=charge_id, user=user)


def ledger_stripe_connect() -> None:
    from marketplace.signals import charge_refunded, invoice_paid

    invoice_paid.connect(ledger_on_invoice_paid, dispatch_uid="ledger-invoice-paid")
    charge_refunded.connect(ledger_on_charge_refunded, dispatch_uid="ledger-charge-refunded")


def _invoice_done(invoice_id: str, user) -> bool:
    """Whether a paid invoice that names no charge (API >= basil) has its revenue: the memo names
    the invoice (narrowed by the payer where known, an indexed column)."""
    recorded = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVENUE, memo__endswith=_invoice_memo(invoice_id))
    return (recorded.filter(user=user) if user is not None else recorded).exists()


def _charge_done(event_type: str, obj: dict, charge_id: str) -> bool:
    """Whether the ledger already holds what this event is about (so Stripe need not be asked)."""
    recorded = LedgerEntry.objects.filter(source__startswith=_charge_prefix(charge_id))
    if event_type == "invoice.paid":
        return recorded.filter(kind=LedgerEntry.Kind.REVENUE).exists()
    # A refund: recorded in the charge's currency up to what the charge says is refunded. (Settled
    # in another currency the sums cannot be compared: Stripe is asked, which adds nothing twice.)
    total = (recorded.filter(kind=LedgerEntry.Kind.REFUND, currency=str(obj.get("currency", "")).upper())
             .aggregate(total=Sum("amount_minor"))["total"] or 0)
    return total >= int(obj.get("amount_refunded") or 0)


def _payer(customer_id: str):
    from marketplace.models import StripeCustomer

    if not customer_id:
        return None
    found = StripeCustomer.objects.filter(stripe_id=customer_id, livemode=True).select_related("user").first()
    return found.user if found else None


def ledger_stripe_reconcile(*, days: int | None = None, now: datetime | None = None) -> dict:
    """Record what the ledger misses of the live invoice.paid / charge.refunded events processed
    in the last `days` days (LEDGER_RECONCILE_DAYS): Stripe is asked only about charges whose
    entries are not there. Re-running adds nothing. Stops at the first sign of Stripe being
    unreachable (the next run goes on). An invoice that names no charge (API >= basil) is looked up
    through its payments. Returns counts: events, asked, recorded, failed, stopped."""
    from marketplace.models import StripeEvent

    days = days or settings.LEDGER_RECONCILE_DAYS
    since = (now or timezone.now()) - timedelta(days=days)
    events = (StripeEvent.objects.filter(type__in=RECONCILED_TYPES, livemode=True, received_at__gte=since,
                                         status=StripeEvent.Status.PROCESSED)
              .order_by("received_at").only("id", "type", "payload"))
    summary = {"events": 0, "asked": 0, "recorded": 0, "failed": 0, "stopped": False}
    seen = set()
    for event in events.iterator(chunk_size=200):
        summary["events"] += 1
        obj = (event.payload.get("data") or {}).get("object") or {}
        charge_id = _id(obj.get("charge")) if event.type == "invoice.paid" else _id(obj.get("id"))
        if charge_id:
            if (event.type, charge_id) in seen or _charge_done(event.type, obj, charge_id):
                continue
            seen.add((event.type, charge_id))
            record = ledger_stripe_charge_record if event.type == "invoice.paid" else ledger_stripe_refunds_record
            ids, payer = {"charge_id": charge_id}, _payer(_id(obj.get("customer")))
        else:
            invoice_id = _id(obj.get("id")) if event.type == "invoice.paid" else ""
            if not invoice_id or int(obj.get("amount_paid", 1) or 0) <= 0 or obj.get("paid_out_of_band"):
                continue  # nothing moved through Stripe's balance
            payer = _payer(_id(obj.get("customer")))
            if ("invoice", invoice_id) in seen or _invoice_done(invoice_id, payer):
                continue
            seen.add(("invoice", invoice_id))
            record, ids = ledger_stripe_invoice_record, {"invoice_id": invoice_id}
        summary["asked"] += 1
        try:
            summary["recorded"] += len(record(user=payer, **ids))
        except AppError as exc:
            summary["failed"] += 1
            logger.warning("ledger reconcile: Stripe could not be asked",
                           extra={"stripe_event_id": event.pk, **ids, "error": str(exc.code)})
            if exc.code in (ErrorCode.SERVICE_UNAVAILABLE, ErrorCode.BILLING_NOT_CONFIGURED):
                summary["stopped"] = True
                break
    return summary
