"""The growth funnel's daily tables, computed in SQL (GROUP BY / COUNT DISTINCT) from the events,
the ledger and accounts' tier audit. Each run replaces the rows of the day it computes, so running
a day again (or backfilling: `manage.py growth_aggregate --days N`) gives the same rows.

- retention_day_aggregate (00:05 UTC): DAU / WAU / MAU (distinct active users in the day / the
  7 / the 30 days ending it) and paying users (on a paid tier at the day's end), over all users
  and by acquisition source; then the cohort triangle.
- growth_day_aggregate (00:10 UTC): visits, signups, new paying users and revenue per currency,
  by source.

Each night recomputes the trailing_days() days ending yesterday, not yesterday alone: revenue
the ledger reconcile records at 01:00 for a past day, and paid events of late webhooks, reach the
tables the next night.
- cohort_triangle_aggregate: for each signup week (Monday, UTC) of the last GROWTH_COHORT_WEEKS,
  the cohort's size and how many of it were active 0, 1, 2, ... weeks later.

A user counts under their signup event's source (UNATTRIBUTED without one); since each user has
one source, the figures over all users are the sums of the sources'."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, FilteredRelation, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from accounts.models import TierChange, User
from intelligence.models import GrowthDay, GrowthEvent, GrowthRevenueDay, LedgerEntry, RetentionCohort, RetentionDay
from intelligence.models.growth import ALL_SOURCES, UNATTRIBUTED
from intelligence.services.growth import PAID_TIERS

SIGNUP = GrowthEvent.Kind.SIGNUP


def _acquired(prefix: str) -> FilteredRelation:
    """The join to a user's signup event, from a row whose user is reached by `prefix`."""
    relation = f"{prefix}growth_events"
    return FilteredRelation(relation, condition=Q(**{f"{relation}__kind": SIGNUP}))


def _source_of(alias: str = "acquired"):
    return Coalesce(F(f"{alias}__source"), Value(UNATTRIBUTED))


def yesterday(now: datetime | None = None) -> date:
    return (now or timezone.now()).date() - timedelta(days=1)


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


# --- growth by source (00:10) -------------------------------------------------------------------

def growth_day_aggregate(*, day: date) -> dict:
    """Replace the day's GrowthDay and GrowthRevenueDay rows: visits and signups by their source,
    new paying users by their acquisition source, and the ledger's revenue entries of that day by
    the source of the user they came from, per currency. Returns {"sources", "revenue_rows"}."""
    def by_source(kind):
        return {row["source"]: row["n"] for row in GrowthEvent.objects.filter(kind=kind, day=day)
                .values("source").annotate(n=Count("pk")).order_by()}

    visits, signups, paid = by_source(GrowthEvent.Kind.VISIT), by_source(SIGNUP), by_source(GrowthEvent.Kind.PAID)
    revenue = list(LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REVENUE, day=day)
                   .annotate(acquired=_acquired("user__"))
                   .values("currency", src=_source_of()).annotate(total=Sum("amount_minor")).order_by())
    now = timezone.now()
    sources = sorted(set(visits) | set(signups) | set(paid))
    with transaction.atomic():
        GrowthDay.objects.filter(day=day).delete()
        GrowthRevenueDay.objects.filter(day=day).delete()
        GrowthDay.objects.bulk_create([
            GrowthDay(day=day, source=s, visits=visits.get(s, 0), signups=signups.get(s, 0), paid=paid.get(s, 0),
                      computed_at=now) for s in sources])
        GrowthRevenueDay.objects.bulk_create([
            GrowthRevenueDay(day=day, source=row["src"], currency=row["currency"], revenue_minor=row["total"],
                             computed_at=now) for row in revenue])
    return {"sources": len(sources), "revenue_rows": len(revenue)}


# --- retention (00:05) --------------------------------------------------------------------------

def _paying_by_source(day: date) -> dict[str, int]:
    """Users on a paid tier at the end of `day`, by acquisition source, from accounts' tier audit:
    a user's tier then is the new tier of their last change before the day's end, else the old
    tier of their first change after it, else their tier now (never changed). One query."""
    end = _day_end(day)
    before = TierChange.objects.filter(user=OuterRef("pk"), at__lt=end).order_by("-at", "-id").values("new_tier")[:1]
    after = TierChange.objects.filter(user=OuterRef("pk"), at__gte=end).order_by("at", "id").values("old_tier")[:1]
    rows = (User.objects.filter(created_at__lt=end)
            .annotate(tier_then=Coalesce(Subquery(before), Subquery(after), F("tier")))
            .filter(tier_then__in=list(PAID_TIERS))
            .annotate(acquired=_acquired(""))
            .values(src=_source_of()).annotate(n=Count("pk")).order_by())
    return {row["src"]: row["n"] for row in rows}


def retention_day_aggregate(*, day: date) -> dict:
    """Replace the day's RetentionDay rows (all users, and one per source): DAU, WAU, MAU and
    paying users. Returns the all-users figures."""
    active = (GrowthEvent.objects.filter(kind=GrowthEvent.Kind.ACTIVE, day__gte=day - timedelta(days=29), day__lte=day)
              .annotate(acquired=_acquired("user__"))
              .values(src=_source_of())
              .annotate(dau=Count("user", distinct=True, filter=Q(day=day)),
                        wau=Count("user", distinct=True, filter=Q(day__gte=day - timedelta(days=6))),
                        mau=Count("user", distinct=True))
              .order_by())
    figures = {row["src"]: {"dau": row["dau"], "wau": row["wau"], "mau": row["mau"], "paying": 0} for row in active}
    for source, n in _paying_by_source(day).items():
        figures.setdefault(source, {"dau": 0, "wau": 0, "mau": 0, "paying": 0})["paying"] = n
    overall = {name: sum(f[name] for f in figures.values()) for name in ("dau", "wau", "mau", "paying")}
    now = timezone.now()
    with transaction.atomic():
        RetentionDay.objects.filter(day=day).delete()
        RetentionDay.objects.bulk_create(
            [RetentionDay(day=day, source=ALL_SOURCES, computed_at=now, **overall)]
            + [RetentionDay(day=day, source=source, computed_at=now, **f) for source, f in sorted(figures.items())])
    return overall


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def cohort_triangle_aggregate(*, through: date, weeks: int | None = None) -> int:
    """Replace the triangle's cells for the signup weeks of the last `weeks` weeks up to `through`
    (GROWTH_COHORT_WEEKS by default): each cohort's size and its users active in each week since,
    up to the week of `through` (in progress when `through` is not a Sunday). Returns the cells."""
    weeks = weeks or settings.GROWTH_COHORT_WEEKS
    last_week = week_start(through)
    first_week = last_week - timedelta(weeks=weeks - 1)
    sizes = {row["cohort"]: row["n"] for row in
             GrowthEvent.objects.filter(kind=SIGNUP, day__gte=first_week, day__lte=through)
             .annotate(cohort=TruncWeek("day")).values("cohort").annotate(n=Count("user", distinct=True)).order_by()}
    active = (GrowthEvent.objects.filter(kind=GrowthEvent.Kind.ACTIVE, day__gte=first_week, day__lte=through)
              .annotate(acquired=_acquired("user__"))
              .filter(acquired__day__gte=first_week, acquired__day__lte=through)
              .annotate(cohort=TruncWeek("acquired__day"), week=TruncWeek("day"))
              .values("cohort", "week").annotate(n=Count("user", distinct=True)).order_by())
    counts = {(_as_date(row["cohort"]), _as_date(row["week"])): row["n"] for row in active}
    now = timezone.now()
    cells = []
    for cohort, size in sorted((_as_date(c), n) for c, n in sizes.items()):
        for k in range((last_week - cohort).days // 7 + 1):
            cells.append(RetentionCohort(cohort=cohort, weeks_since=k, size=size, computed_at=now,
                                         active=counts.get((cohort, cohort + timedelta(weeks=k)), 0)))
    with transaction.atomic():
        # Only the cohorts rebuilt here: a backfill through an older day leaves newer weeks alone.
        RetentionCohort.objects.filter(cohort__range=(first_week, last_week)).delete()
        RetentionCohort.objects.bulk_create(cells)
    return len(cells)


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


# --- the schedules' and the command's entry points ----------------------------------------------

def trailing_days() -> int:
    """How many days, ending yesterday, each nightly run recomputes: money and first payments reach
    their day late (the ledger reconcile at 01:00 UTC records the missed revenue of the last
    LEDGER_RECONCILE_DAYS days on its balance transaction's day, a webhook processed late dates its
    paid event in the past), so a night recomputes every day that can still change, plus one for
    the reconcile that ran after the previous night's aggregation."""
    return settings.LEDGER_RECONCILE_DAYS + 1


def _days_ending(day: date, days: int) -> list[date]:
    return [day - timedelta(days=n) for n in range(days - 1, -1, -1)]


def retention_aggregate(*, day: date | None = None, days: int | None = None) -> dict:
    """00:05 UTC: the retention figures of the `days` days (trailing_days()) ending `day` (default
    yesterday), oldest first, and the cohort triangle through `day`. Returns `day`'s figures."""
    day = day or yesterday()
    for each in _days_ending(day, days or trailing_days()):
        overall = retention_day_aggregate(day=each)
    return {"day": day.isoformat(), **overall, "cohort_cells": cohort_triangle_aggregate(through=day)}


def growth_aggregate(*, day: date | None = None, days: int | None = None) -> dict:
    """00:10 UTC: growth by source of the `days` days (trailing_days()) ending `day` (default
    yesterday), oldest first. Returns the days and the counts of rows written over all of them."""
    day = day or yesterday()
    window = _days_ending(day, days or trailing_days())
    totals = {"sources": 0, "revenue_rows": 0}
    for each in window:
        for name, n in growth_day_aggregate(day=each).items():
            totals[name] += n
    return {"day": day.isoformat(), "days": len(window), **totals}


def growth_backfill(*, days: int, through: date | None = None, progress: Callable[[str], None] | None = None) -> int:
    """Recompute the `days` days ending `through` (default yesterday), oldest first, then the
    triangle once. Returns the days done; `progress` is told about each."""
    through = through or yesterday()
    for n in range(days - 1, -1, -1):
        day = through - timedelta(days=n)
        overall = retention_day_aggregate(day=day)
        growth = growth_day_aggregate(day=day)
        if progress:
            progress(f"{day.isoformat()} ({days - n}/{days}): dau {overall['dau']}, wau {overall['wau']}, "
                     f"mau {overall['mau']}, paying {overall['paying']}; {growth['sources']} sources, "
                     f"{growth['revenue_rows']} revenue rows")
    cells = cohort_triangle_aggregate(through=through)
    if progress:
        progress(f"cohort triangle through {through.isoformat()}: {cells} cells")
    return days
