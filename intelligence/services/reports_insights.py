"""The platform insights report's figures: anonymised aggregates over the last 30 days.

k-anonymity: a group (a workflow, a tier, a listing category) is shown only when at least
MIN_GROUP distinct people are in it (jobs' owners, users, partners, buyers). The smaller groups are
folded into one row "other (groups under 5)" when that row itself has MIN_GROUP distinct people,
and left out entirely otherwise; the page says which. No total is shown beside the rows other than
the sum of the rows shown, so nothing hidden can be worked out by subtraction.

Jobs are live-mode jobs created in the window; success rate = succeeded / (succeeded + failed) of
them (cancelled and unfinished jobs are in the count, not in the rate); run time is each attempt's
duration from the event that ended it (p95 by nearest rank)."""

import math
from collections.abc import Callable
from datetime import timedelta

from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.models import User
from jobs.models import Job, JobEvent
from marketplace.models import Listing, Order

MIN_GROUP = 5
INSIGHTS_DAYS = 30
OTHER = "other (groups under 5)"
ORDER_DONE = (Order.Status.COMPLETED, Order.Status.PAID_OUT, Order.Status.REFUNDED)


def groups_fold(rows: list[dict], *, key: str, people_of: Callable[[list], int], sums: tuple[str, ...]) -> dict:
    """rows [{key, "people", *sums}] -> {"rows" (groups of MIN_GROUP people or more), "other" (the
    smaller groups together, or None), "folded" (how many were smaller), "suppressed" (True when
    their sum was still too small to show)}. people_of(keys) counts the distinct people of those
    groups together (a person in two small groups counts once)."""
    shown = [row for row in rows if row["people"] >= MIN_GROUP]
    small = [row for row in rows if row["people"] < MIN_GROUP]
    other, suppressed = None, False
    if small:
        people = people_of([row[key] for row in small])
        if people >= MIN_GROUP:
            other = {key: OTHER, "people": people, **{name: sum(row[name] for row in small) for name in sums}}
        else:
            suppressed = True
    return {"rows": shown, "other": other, "folded": len(small), "suppressed": suppressed}


def p95(values: list[int]) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _success_pct(succeeded: int, failed: int) -> float | None:
    return round(succeeded * 100 / (succeeded + failed), 1) if succeeded + failed else None


def _jobs(since, now) -> dict:
    jobs = Job.objects.filter(livemode=True, created_at__gte=since, created_at__lte=now)
    rows = list(jobs.values("workflow").annotate(
        people=Count("owner", distinct=True), jobs=Count("pk"),
        succeeded=Count("pk", filter=Q(status=Job.Status.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=Job.Status.FAILED))).order_by("-jobs", "workflow"))
    durations: dict[str, list[int]] = {}
    runs = (JobEvent.objects.filter(job__in=jobs, cost__isnull=False, duration_ms__isnull=False)
            .values_list("job__workflow", "duration_ms"))
    for workflow, ms in runs.iterator(chunk_size=5000):
        durations.setdefault(workflow, []).append(ms)

    folded = groups_fold(rows, key="workflow", sums=("jobs", "succeeded", "failed"),
                         people_of=lambda names: jobs.filter(workflow__in=names).values("owner").distinct().count())
    small = {row["workflow"] for row in rows if row["people"] < MIN_GROUP}
    for row in folded["rows"]:
        row["success_pct"] = _success_pct(row["succeeded"], row["failed"])
        row["p95_ms"] = p95(durations.get(row["workflow"], []))
    if folded["other"]:
        other = folded["other"]
        other["success_pct"] = _success_pct(other["succeeded"], other["failed"])
        other["p95_ms"] = p95([ms for wf in small for ms in durations.get(wf, [])])
    return folded


def _tiers(now) -> dict:
    rows = list(User.objects.filter(created_at__lte=now, is_active=True).values("tier")
                .annotate(people=Count("pk")).order_by("-people", "tier"))
    for row in rows:
        row["users"] = row["people"]
    return groups_fold(rows, key="tier", sums=("users",),
                       people_of=lambda tiers: User.objects.filter(created_at__lte=now, is_active=True,
                                                                   tier__in=tiers).count())


def _listings(now) -> dict:
    listings = Listing.objects.filter(status=Listing.Status.PUBLISHED, created_at__lte=now)
    rows = list(listings.values("category").annotate(people=Count("partner", distinct=True), listings=Count("pk"))
                .order_by("-listings", "category"))
    return groups_fold(rows, key="category", sums=("listings",),
                       people_of=lambda cats: listings.filter(category__in=cats).values("partner").distinct().count())


def _orders(since, now) -> dict:
    orders = Order.objects.filter(livemode=True, status__in=ORDER_DONE, completed_at__gte=since,
                                  completed_at__lte=now, buyer__isnull=False)
    rows = list(orders.values(category=F("listing__category"))
                .annotate(people=Count("buyer", distinct=True), orders=Count("pk")).order_by("-orders", "category"))
    return groups_fold(rows, key="category", sums=("orders",),
                       people_of=lambda cats: orders.filter(listing__category__in=cats).values("buyer").distinct().count())


def _total(folded: dict, name: str) -> int:
    return sum(row[name] for row in folded["rows"]) + (folded["other"][name] if folded["other"] else 0)


def insights_figures(*, now=None) -> dict:
    """Everything the insights report shows, as a template context."""
    now = now or timezone.now()
    since = now - timedelta(days=INSIGHTS_DAYS)
    jobs, tiers = _jobs(since, now), _tiers(now)
    listings, orders = _listings(now), _orders(since, now)
    return {"now": now, "since": since, "days": INSIGHTS_DAYS, "min_group": MIN_GROUP, "other_label": OTHER,
            "jobs": jobs, "jobs_shown": _total(jobs, "jobs"),
            "tiers": tiers, "users_shown": _total(tiers, "users"),
            "listings": listings, "listings_shown": _total(listings, "listings"),
            "orders": orders, "orders_shown": _total(orders, "orders")}
