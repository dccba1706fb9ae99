"""The profit ledger: recording entries (idempotent by source) and the money report.

ledger_entry_record() is the one write: an entry whose source exists already is left as it is
(re-processing a Stripe event or re-running a day's cost adds nothing). ledger_report() is the
N-day report per currency, summed in SQL; margin_pct = net / revenue * 100, and revenue is never
counted as a cost (the old service added it into its cost forecast). Stripe fees given back on a
refund (kind fee_refund) lower stripe_fees.

Partner payouts (the marketplace records them when an order completes and settles them when it
pays): ledger_payout_record() / ledger_payout_settle(), by the order's reference; a refunded
order's payout is taken back with ledger_payout_reverse()."""

from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from intelligence.models import LedgerEntry
from levqor.errors import AppError, ErrorCode

COST_KINDS = (LedgerEntry.Kind.REFUND, LedgerEntry.Kind.STRIPE_FEE, LedgerEntry.Kind.AI_COST,
              LedgerEntry.Kind.INFRA_COST, LedgerEntry.Kind.PAYOUT)
# Money coming back that lowers a cost (never revenue): fees Stripe returned on a refund, partners'
# payouts taken back on a refunded order.
COST_RETURN_KINDS = (LedgerEntry.Kind.FEE_REFUND, LedgerEntry.Kind.PAYOUT_REVERSAL)


def ledger_entry_record(*, day: date, kind: str, amount_minor: int, currency: str, source: str, user=None,
                        pending: bool = False, memo: str = "") -> tuple[LedgerEntry, bool]:
    """The entry made from `source`, created if new: (entry, created). An existing entry is not
    changed (the first record of a source stands)."""
    if amount_minor < 0:
        raise ValueError("ledger amounts are positive; the kind says which way the money went")
    currency = currency.upper()
    existing = LedgerEntry.objects.filter(source=source).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return LedgerEntry.objects.create(day=day, kind=kind, amount_minor=int(amount_minor), currency=currency,
                                              source=source, user=user, pending=pending, memo=memo[:255]), True
    except IntegrityError:
        return LedgerEntry.objects.get(source=source), False  # recorded at the same moment by another process


def ledger_report(*, days: int = 30, now=None) -> dict:
    """The last `days` days (today included, UTC) per currency: {"from", "to", "days",
    "currencies": {CUR: {revenue, refunds, stripe_fees, ai_cost, infra_cost, payouts,
    payouts_pending, platform_fees, total_costs, net, margin_pct}}}. Amounts in minor units;
    margin_pct is None without revenue. payouts_pending is every payout still owed, whatever its
    day. stripe_fees is net of fees Stripe gave back, payouts net of payouts taken back (refunded
    orders); total_costs = refunds + stripe_fees + ai_cost + infra_cost + payouts (revenue is never
    in it). platform_fees is the marketplace's part of its orders' revenue (already in revenue),
    net of the part given back with refunds: shown beside it, in neither revenue nor costs."""
    today = (now or timezone.now()).date()
    since = today - timedelta(days=days - 1)
    sums = (LedgerEntry.objects.filter(day__gte=since, day__lte=today)
            .values("currency", "kind").annotate(total=Sum("amount_minor")).order_by())
    pending = (LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYOUT, pending=True)
               .values("currency").annotate(total=Sum("amount_minor")).order_by())
    by_currency: dict[str, dict[str, int]] = {}
    for row in sums:
        by_currency.setdefault(row["currency"], {})[row["kind"]] = int(row["total"] or 0)
    owed = {row["currency"]: int(row["total"] or 0) for row in pending}
    currencies = {}
    for currency in sorted(set(by_currency) | set(owed)):
        kinds = by_currency.get(currency, {})
        revenue = kinds.get(LedgerEntry.Kind.REVENUE, 0)
        total_costs = (sum(kinds.get(kind, 0) for kind in COST_KINDS)
                       - sum(kinds.get(kind, 0) for kind in COST_RETURN_KINDS))
        net = revenue - total_costs
        currencies[currency] = {
            "revenue": revenue,
            "refunds": kinds.get(LedgerEntry.Kind.REFUND, 0),
            "stripe_fees": kinds.get(LedgerEntry.Kind.STRIPE_FEE, 0) - kinds.get(LedgerEntry.Kind.FEE_REFUND, 0),
            "ai_cost": kinds.get(LedgerEntry.Kind.AI_COST, 0),
            "infra_cost": kinds.get(LedgerEntry.Kind.INFRA_COST, 0),
            "payouts": kinds.get(LedgerEntry.Kind.PAYOUT, 0) - kinds.get(LedgerEntry.Kind.PAYOUT_REVERSAL, 0),
            "payouts_pending": owed.get(currency, 0),
            "platform_fees": (kinds.get(LedgerEntry.Kind.PLATFORM_FEE, 0)
                              - kinds.get(LedgerEntry.Kind.PLATFORM_FEE_REVERSAL, 0)),
            "total_costs": total_costs,
            "net": net,
            "margin_pct": round(net / revenue * 100, 2) if revenue else None,
        }
    return {"from": since.isoformat(), "to": today.isoformat(), "days": days, "currencies": currencies}


def ledger_kind_total(*, kinds, currency: str, since: date, until: date) -> int:
    """The sum of entries of these kinds in one currency between two days (inclusive)."""
    total = LedgerEntry.objects.filter(Q(kind__in=list(kinds)), currency=currency.upper(), day__gte=since,
                                       day__lte=until).aggregate(total=Sum("amount_minor"))["total"]
    return int(total or 0)


def _payout_source(order_ref: str) -> str:
    if not order_ref or len(order_ref) > 200:
        raise ValueError("order_ref is a non-empty reference of at most 200 characters")
    return f"payout:{order_ref}"


def ledger_payout_record(*, order_ref: str, amount_minor: int, currency: str, day: date,
                         pending: bool) -> tuple[LedgerEntry, bool]:
    """A partner's payout for an order (the marketplace calls it when an order completes):
    pending=True while it is owed, False when recorded already paid. Idempotent by order_ref:
    recording the same order again changes nothing and answers (entry, False)."""
    return ledger_entry_record(day=day, kind=LedgerEntry.Kind.PAYOUT, amount_minor=amount_minor, currency=currency,
                               source=_payout_source(order_ref), pending=pending, memo=f"order {order_ref}")


def ledger_payout_settle(*, order_ref: str) -> LedgerEntry:
    """The order's payout marked paid (no longer pending). Settling a settled payout changes
    nothing; an order with no recorded payout is 404 not_found."""
    with transaction.atomic():
        entry = (LedgerEntry.objects.select_for_update()
                 .filter(source=_payout_source(order_ref), kind=LedgerEntry.Kind.PAYOUT).first())
        if entry is None:
            raise AppError(ErrorCode.NOT_FOUND, "No payout is recorded for this order.",
                           details={"order_ref": order_ref})
        if entry.pending:
            entry.pending = False
            entry.save(update_fields=["pending"])
    return entry


def ledger_payout_reversal_source(order_ref: str) -> str:
    """The source of the reversal of an order's payout that was never paid (ledger_payout_reverse)."""
    return f"order:{order_ref}:payout_reversal"


def ledger_payout_reverse(*, order_ref: str, amount_minor: int, currency: str, day: date) -> LedgerEntry | None:
    """A partner's payout for an order taken back (the order was refunded): a payout_reversal of
    `amount_minor` (the share reversed from a transfer made), or, when the payout is still pending
    (never paid), the pending payout cleared and a payout_reversal of its whole amount, so the
    order's payouts net to zero and nothing stays owed. Idempotent by order_ref; None when there is
    nothing to take back. (The marketplace passes 0 for a payout made: each Stripe reversal of it
    is recorded on its own, by its id.)"""
    source = ledger_payout_reversal_source(order_ref)
    with transaction.atomic():
        payout = (LedgerEntry.objects.select_for_update()
                  .filter(source=_payout_source(order_ref), kind=LedgerEntry.Kind.PAYOUT).first())
        if payout is not None and payout.pending:
            payout.pending = False
            payout.save(update_fields=["pending"])
            amount_minor, currency = payout.amount_minor, payout.currency
        if amount_minor <= 0:
            return None
        entry, _ = ledger_entry_record(day=day, kind=LedgerEntry.Kind.PAYOUT_REVERSAL, amount_minor=amount_minor,
                                       currency=currency, source=source, memo=f"order {order_ref} refunded")
    return entry
