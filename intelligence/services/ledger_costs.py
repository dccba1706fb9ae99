"""The ledger's costs that are not Stripe's: AI cost from jobs, infrastructure cost from admin.

AI cost: one ai_cost entry per finished UTC day, the sum of what that day's live-mode job runs
cost (Decimal USD; each run counts on the day it ended, as its job event records it: a job retried
days later adds only its new runs then), summed exactly and then rounded half up to whole cents
once (not per job). Source
jobs:ai_cost:<YYYY-MM-DD>, so a day is recorded once; a day without jobs is recorded as 0, which
marks it done. The schedule (00:15 UTC) records the finished days of the last
LEDGER_AI_COST_CATCHUP_DAYS that are missing (a missed run is caught up); `manage.py
ledger_backfill --days N` does the same further back. Today's cost so far is never stored:
the report shows it beside the totals (intelligence.selectors.ledger.ledger_ai_cost_today).

Infra cost: a month's bill (InfraCost) spread over the month's days as infra_cost entries, so any
window carries its share: amount // days a day, the remainder one minor unit each on the first
days (the entries add up to the month exactly). Sources infra:<id>:r<revision>:<YYYY-MM-DD>.
Editing a month replaces its entries in one transaction: the old revision's entries are deleted
and the new revision's created, so "unique per source" still means one amount per source (an
edited amount is a new source, never a changed amount behind an old one)."""

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from intelligence.models import InfraCost, LedgerEntry
from intelligence.services.ledger import ledger_entry_record
from levqor.errors import AppError, ErrorCode

AI_COST_CURRENCY = "USD"


def ai_cost_of_jobs(*, start: datetime, end: datetime) -> tuple[int, int]:
    """(cents, jobs): what live-mode job runs that ended in [start, end) cost
    (jobs.selectors.job_live_run_cost: each run on its own day, so a retried job's earlier runs are
    not counted again), summed in SQL and rounded half up to cents; jobs = how many jobs ran."""
    from jobs.selectors import job_live_run_cost

    total, jobs = job_live_run_cost(start=start, end=end)
    return int(total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100), jobs


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def ledger_ai_cost_day_record(*, day: date, now: datetime | None = None) -> tuple[LedgerEntry, bool]:
    """The ai_cost entry of a finished UTC day: (entry, created). A day recorded already is left
    as it is; today (or later) is refused: its total is not known yet."""
    start, end = _day_bounds(day)
    if end > (now or timezone.now()):
        raise ValueError(f"{day} has not finished yet (UTC)")
    cents, jobs = ai_cost_of_jobs(start=start, end=end)
    return ledger_entry_record(day=day, kind=LedgerEntry.Kind.AI_COST, amount_minor=cents, currency=AI_COST_CURRENCY,
                               source=f"jobs:ai_cost:{day.isoformat()}", memo=f"{jobs} live-mode jobs ran")


def ledger_ai_cost_days(*, days: int, now: datetime | None = None,
                        progress: Callable[[LedgerEntry, bool], None] | None = None) -> int:
    """Record the missing ai_cost entries of the last `days` finished UTC days (oldest first);
    returns how many were new. `progress(entry, created)` hears about each day."""
    yesterday = (now or timezone.now()).astimezone(UTC).date() - timedelta(days=1)
    wanted = [yesterday - timedelta(days=n) for n in range(days - 1, -1, -1)]
    done = set(LedgerEntry.objects.filter(source__in=[f"jobs:ai_cost:{d.isoformat()}" for d in wanted])
               .values_list("source", flat=True))
    new = 0
    for day in wanted:
        if f"jobs:ai_cost:{day.isoformat()}" in done:
            if progress:
                progress(LedgerEntry.objects.get(source=f"jobs:ai_cost:{day.isoformat()}"), False)
            continue
        entry, created = ledger_ai_cost_day_record(day=day, now=now)
        new += created
        if progress:
            progress(entry, created)
    return new


def ledger_ai_cost_daily() -> int:
    """The schedule's run (00:15 UTC): yesterday, and any missing day of the catch-up window."""
    return ledger_ai_cost_days(days=settings.LEDGER_AI_COST_CATCHUP_DAYS)


# --- infrastructure cost ----------------------------------------------------------------------------------------

def infra_cost_spread(*, month: date, amount_minor: int) -> list[tuple[date, int]]:
    """The month's amount over its days: (day, amount) adding up to amount_minor exactly."""
    days = calendar.monthrange(month.year, month.month)[1]
    each, rest = divmod(amount_minor, days)
    return [(month.replace(day=n), each + (1 if n <= rest else 0)) for n in range(1, days + 1)]


def _infra_prefix(infra_cost: InfraCost) -> str:
    return f"infra:{infra_cost.pk}:"


def infra_cost_save(*, infra_cost: InfraCost, month: date, currency: str, amount_minor: int, note: str = "",
                    entered_by=None) -> InfraCost:
    """A month's infrastructure cost entered (infra_cost new, unsaved) or edited (saved), and its
    ledger entries replaced in the same transaction: the previous revision's go, one entry per day
    of the month of the new revision come. month is any day of the month."""
    if amount_minor < 0:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The amount cannot be negative.",
                       details={"errors": [{"field": "amount", "message": "Cannot be negative."}]})
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise AppError(ErrorCode.VALIDATION_FAILED, "The currency is a 3-letter ISO code.",
                       details={"errors": [{"field": "currency", "message": "A 3-letter ISO code, e.g. USD."}]})
    now = timezone.now()
    try:
        with transaction.atomic():
            if infra_cost.pk:
                InfraCost.objects.select_for_update().filter(pk=infra_cost.pk).first()
                LedgerEntry.objects.filter(source__startswith=_infra_prefix(infra_cost)).delete()
                infra_cost.revision += 1
            infra_cost.month, infra_cost.currency, infra_cost.amount_minor = month.replace(day=1), currency, amount_minor
            infra_cost.note, infra_cost.updated_at = note[:255], now
            if entered_by is not None:
                infra_cost.entered_by = entered_by
            infra_cost.save()
            prefix, label = _infra_prefix(infra_cost), f"infra {infra_cost.month:%Y-%m} r{infra_cost.revision}"
            LedgerEntry.objects.bulk_create([
                LedgerEntry(day=day, kind=LedgerEntry.Kind.INFRA_COST, amount_minor=amount, currency=currency,
                            source=f"{prefix}r{infra_cost.revision}:{day.isoformat()}", memo=label, created_at=now)
                for day, amount in infra_cost_spread(month=infra_cost.month, amount_minor=amount_minor) if amount])
    except IntegrityError as exc:
        raise AppError(ErrorCode.VALIDATION_FAILED, "There is an infrastructure cost for this month and currency.",
                       details={"errors": [{"field": "month", "message": "Already entered: edit that one."}]}) from exc
    return infra_cost


def infra_cost_delete(*, infra_cost: InfraCost) -> None:
    """A month's infrastructure cost and its ledger entries gone, together."""
    with transaction.atomic():
        LedgerEntry.objects.filter(source__startswith=_infra_prefix(infra_cost)).delete()
        infra_cost.delete()
