"""The profit ledger as a page of the admin (staff only): /admin/money/ledger/?days=7|30|90.

Per currency: a chart of each day's revenue (a line) over its costs stacked by kind (bars), the
totals of ledger_report (revenue, costs by kind, payouts pending, total_costs, net, margin_pct)
and today's AI cost so far (not stored, not in the totals). ?format=csv downloads the same window:
one row per day, currency and kind, then the totals. admin.site.admin_view makes it staff only."""

import csv
from datetime import UTC, date, datetime, timedelta

from django.contrib import admin
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from intelligence.charts import Series, stacked_bar_chart
from intelligence.models import LedgerEntry
from intelligence.selectors.ledger import AMOUNT_KEYS, ledger_daily, ledger_report_displayed
from levqor.money import minor_display, minor_to_major

DAY_CHOICES = (7, 30, 90)
TICKS = {7: (timedelta(days=1), "%a %d"), 30: (timedelta(days=7), "%d %b"), 90: (timedelta(days=14), "%d %b")}
# Costs stacked bottom to top: (kind, label, css class in ledger.css).
COST_SERIES = ((LedgerEntry.Kind.AI_COST, "AI cost", "s-ai"), (LedgerEntry.Kind.INFRA_COST, "infra", "s-infra"),
               (LedgerEntry.Kind.STRIPE_FEE, "Stripe fees", "s-fees"), (LedgerEntry.Kind.REFUND, "refunds", "s-refunds"),
               (LedgerEntry.Kind.PAYOUT, "payouts", "s-payouts"))
TOTAL_ROWS = (("revenue", "Revenue"), ("refunds", "Refunds"), ("stripe_fees", "Stripe fees (net of fees returned)"),
              ("ai_cost", "AI cost"), ("infra_cost", "Infrastructure"), ("payouts", "Partner payouts (net of reversals)"),
              ("total_costs", "Total costs"), ("net", "Net"),
              ("platform_fees", "Platform fees (the marketplace's part of revenue, in neither total)"))


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        return 30
    return days if days in DAY_CHOICES else 30


def ledger_charts(report: dict, daily: list[dict]) -> list:
    since, until = date.fromisoformat(report["from"]), date.fromisoformat(report["to"])
    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    tick_every, tick_format = TICKS.get(report["days"], (timedelta(days=7), "%d %b"))
    charts = []
    for currency in report["currencies"]:
        values: dict[str, list[float]] = {}
        for row in daily:
            if row["currency"] == currency:
                kind_values = values.setdefault(row["kind"], [0.0] * len(days))
                kind_values[index[row["day"]]] += float(minor_to_major(row["amount_minor"], currency))
        fees = [max(fee - back, 0.0) for fee, back in zip(values.get(LedgerEntry.Kind.STRIPE_FEE, [0.0] * len(days)),
                                                           values.get(LedgerEntry.Kind.FEE_REFUND, [0.0] * len(days)),
                                                           strict=True)]
        values[LedgerEntry.Kind.STRIPE_FEE] = fees
        zeros = [0.0] * len(days)
        values[LedgerEntry.Kind.PAYOUT] = [  # net of payouts taken back (refunded orders)
            max(paid - back, 0.0) for paid, back in zip(values.get(LedgerEntry.Kind.PAYOUT, zeros),
                                                        values.get(LedgerEntry.Kind.PAYOUT_REVERSAL, zeros), strict=True)]
        series = [Series(label, css, values.get(kind, [0.0] * len(days))) for kind, label, css in COST_SERIES]
        charts.append(stacked_bar_chart(
            key=f"ledger-{currency.lower()}", title=f"Revenue and costs per day, {currency}", unit=currency,
            buckets=[datetime.combine(day, datetime.min.time(), tzinfo=UTC) for day in days],
            step=timedelta(days=1), series=series, tick_every=tick_every, tick_format=tick_format,
            lines=[Series("revenue", "s-revenue", values.get(LedgerEntry.Kind.REVENUE, [0.0] * len(days)))]))
    return charts


def ledger_csv(report: dict, daily: list[dict]) -> HttpResponse:
    """section,day,currency,kind,amount_minor,amount: the daily rows (section "daily"), then each
    currency's totals (section "total", day empty; margin_pct in the amount column)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="ledger-{report["from"]}-to-{report["to"]}.csv"'
    writer = csv.writer(response)
    writer.writerow(["section", "day", "currency", "kind", "amount_minor", "amount"])
    for row in daily:
        writer.writerow(["daily", row["day"].isoformat(), row["currency"], row["kind"], row["amount_minor"],
                         minor_display(row["amount_minor"], row["currency"])])
    for currency, totals in report["currencies"].items():
        for key in AMOUNT_KEYS:
            writer.writerow(["total", "", currency, key, totals[key], totals[f"{key}_display"]])
        margin = totals["margin_pct"]
        writer.writerow(["total", "", currency, "margin_pct", "", "" if margin is None else f"{margin:.2f}"])
    return response


def ledger_page(request):
    days = _days(request)
    report = ledger_report_displayed(days=days)
    daily = ledger_daily(since=date.fromisoformat(report["from"]), until=date.fromisoformat(report["to"]))
    if request.GET.get("format") == "csv":
        return ledger_csv(report, daily)
    charts = {chart.key: chart for chart in ledger_charts(report, daily)}
    currencies = [{"code": code, "totals": totals, "chart": charts[f"ledger-{code.lower()}"],
                   "rows": [(label, totals[f"{key}_display"], key) for key, label in TOTAL_ROWS]}
                  for code, totals in report["currencies"].items()]
    context = {**admin.site.each_context(request), "title": "Profit ledger", "report": report, "days": days,
               "day_choices": DAY_CHOICES, "currencies": currencies, "today": report["today"]["ai_cost"],
               "infra_link": reverse("admin:intelligence_infracost_changelist"),
               "entries_link": reverse("admin:intelligence_ledgerentry_changelist")}
    return TemplateResponse(request, "intelligence/ledger.html", context)


urlpatterns = [path("", admin.site.admin_view(ledger_page), name="ledger-admin")]
