"""Reads of the profit ledger shared by its admin page, its CSV and its API: the report with
amounts also in major units, the daily sums behind the chart, and today's AI cost so far."""

from datetime import UTC, date, datetime, timedelta

from django.db.models import Sum
from django.utils import timezone

from intelligence.models import LedgerEntry
from intelligence.services.ledger import ledger_report
from intelligence.services.ledger_costs import AI_COST_CURRENCY, ai_cost_of_jobs
from levqor.money import minor_display

AMOUNT_KEYS = ("revenue", "refunds", "stripe_fees", "ai_cost", "infra_cost", "payouts", "payouts_pending",
               "platform_fees", "total_costs", "net")


def ledger_ai_cost_today(*, now: datetime | None = None) -> dict:
    """Today's (UTC) AI cost so far, from the jobs: shown beside the report, never stored nor
    counted in its totals (the 00:15 schedule records the day once it has finished)."""
    now = now or timezone.now()
    start = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    cents, jobs = ai_cost_of_jobs(start=start, end=now + timedelta(microseconds=1))
    return {"day": start.date().isoformat(), "currency": AI_COST_CURRENCY, "amount_minor": cents,
            "amount_display": minor_display(cents, AI_COST_CURRENCY), "jobs": jobs}


def ledger_report_displayed(*, days: int = 30, now: datetime | None = None) -> dict:
    """ledger_report() with each amount also as a decimal string in major units beside it
    ("revenue": 1900, "revenue_display": "19.00"), and today's AI cost so far under "today"."""
    report = ledger_report(days=days, now=now)
    for currency, row in report["currencies"].items():
        for key in AMOUNT_KEYS:
            row[f"{key}_display"] = minor_display(row[key], currency)
    report["today"] = {"ai_cost": ledger_ai_cost_today(now=now)}
    return report


def ledger_daily(*, since: date, until: date) -> list[dict]:
    """The sum of each day, currency and kind between two days (inclusive), summed in SQL:
    [{"day", "currency", "kind", "amount_minor"}], by day, currency and kind."""
    rows = (LedgerEntry.objects.filter(day__gte=since, day__lte=until)
            .values("day", "currency", "kind").annotate(amount_minor=Sum("amount_minor"))
            .order_by("day", "currency", "kind"))
    return [{**row, "amount_minor": int(row["amount_minor"])} for row in rows]
