"""Reads of the growth funnel's daily tables (computed by intelligence.services.growth_aggregates),
for the admin page and the API: the N-day figures by source with the reference formulas, the
daily series, DAU / WAU / MAU, and the cohort triangle.

The formulas (original-behaviour.md section 4), over the window:
  conversion_pct = signups / max(visits, 1) * 100
  arpu           = revenue / max(signups, 1)
  roi_proxy      = revenue / max(visits, 1)
Revenue is kept per currency in minor units (never converted); the ratios are Decimals in the
currency's major units (e.g. dollars, not cents), rounded half up to 0.01."""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from intelligence.models import GrowthDay, GrowthRevenueDay, RetentionCohort, RetentionDay
from intelligence.models.growth import ALL_SOURCES
from levqor.money import minor_to_major

CENT = Decimal("0.01")


def _ratio(numerator: Decimal | int, denominator: int) -> Decimal:
    return (Decimal(numerator) / Decimal(max(denominator, 1))).quantize(CENT, rounding=ROUND_HALF_UP)


def growth_formulas(*, visits: int, signups: int, revenue_minor: dict[str, int]) -> dict:
    """The reference formulas for one row: conversion_pct, and per currency revenue (minor and
    major units), arpu and roi_proxy (major units)."""
    return {
        "conversion_pct": _ratio(Decimal(signups) * 100, visits),
        "revenue": {cur: _revenue_formulas(minor_to_major(amount, cur), amount, visits=visits, signups=signups)
                    for cur, amount in sorted(revenue_minor.items())},
    }


def _revenue_formulas(revenue: Decimal, revenue_minor: int, *, visits: int, signups: int) -> dict:
    return {"revenue_minor": revenue_minor, "revenue": revenue, "arpu": _ratio(revenue, signups),
            "roi_proxy": _ratio(revenue, visits)}


@dataclass(frozen=True)
class Window:
    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def each_day(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]


def growth_window(*, days: int = 30, today: date | None = None) -> Window:
    """The `days` complete UTC days ending yesterday: the schedules compute a day once it is over."""
    last = (today or timezone.now().date()) - timedelta(days=1)
    return Window(first=last - timedelta(days=days - 1), last=last)


def growth_by_source(*, window: Window) -> dict:
    """{"from", "to", "days", "sources": [{source, visits, signups, paid, conversion_pct, revenue:
    {CUR: {revenue_minor, revenue, arpu, roi_proxy}}}], "total": {...the same over all sources}}.
    Two grouped queries; sources with most signups first."""
    counts = (GrowthDay.objects.filter(day__gte=window.first, day__lte=window.last).values("source")
              .annotate(visits=Sum("visits"), signups=Sum("signups"), paid=Sum("paid")).order_by())
    revenue = (GrowthRevenueDay.objects.filter(day__gte=window.first, day__lte=window.last)
               .values("source", "currency").annotate(total=Sum("revenue_minor")).order_by())
    rows: dict[str, dict] = {row["source"]: {"visits": row["visits"], "signups": row["signups"], "paid": row["paid"],
                                              "revenue_minor": {}} for row in counts}
    for row in revenue:
        rows.setdefault(row["source"], {"visits": 0, "signups": 0, "paid": 0, "revenue_minor": {}})[
            "revenue_minor"][row["currency"]] = int(row["total"])
    total = {"visits": 0, "signups": 0, "paid": 0, "revenue_minor": {}}
    sources = []
    for source, row in rows.items():
        for name in ("visits", "signups", "paid"):
            total[name] += row[name]
        for cur, amount in row["revenue_minor"].items():
            total["revenue_minor"][cur] = total["revenue_minor"].get(cur, 0) + amount
        sources.append({"source": source, "visits": row["visits"], "signups": row["signups"], "paid": row["paid"],
                        **growth_formulas(visits=row["visits"], signups=row["signups"],
                                          revenue_minor=row["revenue_minor"])})
    sources.sort(key=lambda r: (-r["signups"], -r["visits"], r["source"]))
    return {"from": window.first.isoformat(), "to": window.last.isoformat(), "days": window.days, "sources": sources,
            "total": {"visits": total["visits"], "signups": total["signups"], "paid": total["paid"],
                      **growth_formulas(visits=total["visits"], signups=total["signups"],
                                        revenue_minor=total["revenue_minor"])}}


def growth_daily_series(*, window: Window) -> dict:
    """Visits, signups and new paying users per day over all sources: {"days", "visits",
    "signups", "paid"} (lists, one value per day; 0 where a day has none)."""
    rows = {row["day"]: row for row in GrowthDay.objects.filter(day__gte=window.first, day__lte=window.last)
            .values("day").annotate(visits=Sum("visits"), signups=Sum("signups"), paid=Sum("paid")).order_by()}
    days = window.each_day()
    return {"days": days, **{name: [rows[d][name] if d in rows else 0 for d in days]
                             for name in ("visits", "signups", "paid")}}


def retention_series(*, window: Window, source: str = ALL_SOURCES) -> dict:
    """DAU, WAU, MAU and paying users per day for one source (default: all users): {"days",
    "dau", "wau", "mau", "paying"}; None where a day was not computed."""
    rows = {row.day: row for row in RetentionDay.objects.filter(day__gte=window.first, day__lte=window.last,
                                                                source=source)}
    days = window.each_day()
    return {"days": days, **{name: [getattr(rows[d], name) if d in rows else None for d in days]
                             for name in ("dau", "wau", "mau", "paying")}}


def retention_by_source(*, day: date) -> list[dict]:
    """The DAU / WAU / MAU and paying users of each source on one day (most monthly actives first)."""
    return list(RetentionDay.objects.filter(day=day).exclude(source=ALL_SOURCES).order_by("-mau", "source")
                .values("source", "dau", "wau", "mau", "paying"))


def cohort_triangle(*, weeks: int | None = None) -> list[dict]:
    """The stored triangle, newest cohorts last: [{"cohort" (Monday), "size", "cells": [{"weeks_since",
    "active", "pct"}]}], pct = active / size * 100 (0.1 precision; None for an empty cohort)."""
    weeks = weeks or settings.GROWTH_COHORT_WEEKS
    latest = RetentionCohort.objects.order_by("-cohort").values_list("cohort", flat=True).first()
    if latest is None:
        return []
    cohorts: dict[date, dict] = {}
    for cell in RetentionCohort.objects.filter(cohort__gt=latest - timedelta(weeks=weeks)).order_by("cohort",
                                                                                                   "weeks_since"):
        row = cohorts.setdefault(cell.cohort, {"cohort": cell.cohort, "size": cell.size, "cells": []})
        pct = (Decimal(cell.active) * 100 / cell.size).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) \
            if cell.size else None
        row["cells"].append({"weeks_since": cell.weeks_since, "active": cell.active, "pct": pct})
    return list(cohorts.values())
