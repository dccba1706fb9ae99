"""The growth page of the admin (staff only): /admin/money/growth/?days=7|30|90.

From the daily tables (intelligence.selectors.growth): visits / signups / new paying users by day,
DAU / WAU / MAU and paying users, the by-source table with the reference formulas, and the weekly
cohort triangle as a heat map (a table whose cells carry heat-0 .. heat-10 classes: the page
policy allows no style attribute). A staff member may recompute the window's days (the same
service the schedules run), e.g. after a backfill of events."""

from datetime import UTC, datetime, time, timedelta

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from intelligence.charts import Series, line_chart
from intelligence.selectors.growth import (
    cohort_triangle,
    growth_by_source,
    growth_daily_series,
    growth_window,
    retention_by_source,
    retention_series,
)
from intelligence.services.growth_aggregates import growth_backfill

DAY_CHOICES = (7, 30, 90)
DEFAULT_DAYS = 30


def _days(request) -> int:
    try:
        days = int(request.GET.get("days", DEFAULT_DAYS))
    except ValueError:
        return DEFAULT_DAYS
    return days if days in DAY_CHOICES else DEFAULT_DAYS


def _buckets(days) -> list[datetime]:
    return [datetime.combine(d, time.min, tzinfo=UTC) for d in days]


def growth_charts(*, funnel: dict, retention: dict) -> list:
    common = {"buckets": _buckets(funnel["days"]), "step": timedelta(days=1), "tick_every": timedelta(days=7),
              "tick_format": "%d %b"}
    return [
        line_chart(key="funnel", title="Visits, signups and new paying users by day", unit="people",
                   series=[Series("visits", "s-visits", funnel["visits"]), Series("signups", "s-signups", funnel["signups"]),
                           Series("new paying", "s-paid", funnel["paid"])], **common),
        line_chart(key="active", title="Active users (DAU / WAU / MAU)", unit="users",
                   series=[Series("DAU", "s-dau", retention["dau"]), Series("WAU", "s-wau", retention["wau"]),
                           Series("MAU", "s-mau", retention["mau"])], **common),
        line_chart(key="paying", title="Users on a paid tier", unit="users",
                   series=[Series("paying users", "s-paying", retention["paying"])], **common),
    ]


def heat_class(pct) -> str:
    """heat-0 (none) .. heat-10 (all): the shade of a triangle cell, one step per 10 %."""
    if pct is None:
        return "heat-none"
    return f"heat-{min(10, int(pct // 10))}"


def growth_page(request):
    days = _days(request)
    window = growth_window(days=days)
    funnel = growth_daily_series(window=window)
    retention = retention_series(window=window)
    triangle = cohort_triangle()
    width = max((len(row["cells"]) for row in triangle), default=0)
    for row in triangle:
        for cell in row["cells"]:
            cell["heat"] = heat_class(cell["pct"])
        row["blank"] = range(width - len(row["cells"]))
    has_data = any(funnel["visits"]) or any(funnel["signups"]) or any(v is not None for v in retention["mau"])
    context = {
        **admin.site.each_context(request),
        "title": "Growth funnel and retention",
        "days": days,
        "day_choices": DAY_CHOICES,
        "window": window,
        "report": growth_by_source(window=window),
        "charts": growth_charts(funnel=funnel, retention=retention) if has_data else [],
        "has_data": has_data,
        "by_source_active": retention_by_source(day=window.last),
        "triangle": triangle,
        "weeks": range(width),
    }
    return TemplateResponse(request, "intelligence/growth.html", context)


@require_POST
def growth_recompute(request):
    days = _days(request)
    window = growth_window(days=days)
    growth_backfill(days=days, through=window.last)
    messages.success(request, f"Recomputed the {days} days from {window.first} to {window.last} and the cohort triangle.")
    return HttpResponseRedirect(f"{reverse('growth-admin')}?days={days}")


urlpatterns = [
    path("", admin.site.admin_view(growth_page), name="growth-admin"),
    path("recompute", admin.site.admin_view(growth_recompute), name="growth-admin-recompute"),
]
