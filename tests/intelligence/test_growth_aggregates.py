"""The growth funnel's daily tables against numbers worked out by hand from seeded events: growth
by source with the reference formulas (original-behaviour.md section 4), DAU / WAU / MAU windows,
paying users from the tier audit, the cohort triangle's cells; each run replaces its day's rows
(schedules and backfill idempotent); the old analytics endpoint is unchanged."""

from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from accounts.models import User
from intelligence import tasks
from intelligence.models import GrowthDay, GrowthEvent, GrowthRevenueDay, RetentionCohort, RetentionDay
from intelligence.selectors.growth import Window, cohort_triangle, growth_by_source, growth_window, retention_series
from intelligence.services.growth_aggregates import (
    cohort_triangle_aggregate,
    growth_day_aggregate,
    retention_aggregate,
    retention_day_aggregate,
)
from tests.factories import UserFactory, api_key_for
from tests.intelligence.growth_support import active, at, paid, revenue, signed_up, tier_moved, visit

pytestmark = pytest.mark.django_db

D = date(2026, 11, 4)  # a Wednesday
ONE_DAY = Window(first=D, last=D)


@pytest.fixture
def funnel():
    """Day D: visits newsletter 4, google.com 10, direct 6; signups newsletter 2 (a, b), google.com
    1 (c), direct 1 (d); a pays; revenue a 19.00 USD + 5.00 EUR, c 199.00 USD, 7.00 USD of nobody's."""
    for source, n in (("newsletter", 4), ("google.com", 10), ("direct", 6)):
        for _ in range(n):
            visit(source, D)
    visit("newsletter", D - timedelta(days=1))  # another day
    users = {"a": signed_up("newsletter", D, campaign="nov", medium="email"), "b": signed_up("newsletter", D),
             "c": signed_up("google.com", D), "d": signed_up("direct", D),
             "old": signed_up("newsletter", D - timedelta(days=1))}
    paid(users["a"], D)
    revenue(users["a"], D, 1900)
    revenue(users["a"], D, 500, "EUR")
    revenue(users["c"], D, 19900)
    revenue(None, D, 700)
    revenue(users["b"], D + timedelta(days=1), 1900)  # another day
    return users


def test_growth_by_source_matches_the_reference_formulas(funnel, django_assert_max_num_queries):
    # 4 grouped reads, then in one transaction (+ its savepoint here) 2 DELETEs and 2 bulk INSERTs.
    with django_assert_max_num_queries(10):
        growth_day_aggregate(day=D)
    rows = {r.source: (r.visits, r.signups, r.paid) for r in GrowthDay.objects.filter(day=D)}
    assert rows == {"newsletter": (4, 2, 1), "google.com": (10, 1, 0), "direct": (6, 1, 0)}
    money = {(r.source, r.currency): r.revenue_minor for r in GrowthRevenueDay.objects.filter(day=D)}
    assert money == {("newsletter", "USD"): 1900, ("newsletter", "EUR"): 500, ("google.com", "USD"): 19900,
                     ("(unattributed)", "USD"): 700}

    with django_assert_max_num_queries(2):
        report = growth_by_source(window=ONE_DAY)
    by = {r["source"]: r for r in report["sources"]}
    news = by["newsletter"]
    assert (news["visits"], news["signups"], news["paid"], news["conversion_pct"]) == (4, 2, 1, Decimal("50.00"))
    assert news["revenue"]["USD"] == {"revenue_minor": 1900, "revenue": Decimal("19.00"), "arpu": Decimal("9.50"),
                                      "roi_proxy": Decimal("4.75")}
    assert news["revenue"]["EUR"] == {"revenue_minor": 500, "revenue": Decimal("5.00"), "arpu": Decimal("2.50"),
                                      "roi_proxy": Decimal("1.25")}
    assert by["google.com"]["conversion_pct"] == Decimal("10.00")
    assert by["google.com"]["revenue"]["USD"]["arpu"] == Decimal("199.00")
    assert by["google.com"]["revenue"]["USD"]["roi_proxy"] == Decimal("19.90")
    assert by["direct"]["conversion_pct"] == Decimal("16.67")  # 1 / 6 * 100
    # Revenue of nobody we know: max(visits, 1) and max(signups, 1) keep the formulas defined.
    assert by["(unattributed)"]["conversion_pct"] == Decimal("0.00")
    assert by["(unattributed)"]["revenue"]["USD"]["arpu"] == Decimal("7.00")
    total = report["total"]
    assert (total["visits"], total["signups"], total["paid"], total["conversion_pct"]) == (20, 4, 1, Decimal("20.00"))
    assert total["revenue"]["USD"] == {"revenue_minor": 22500, "revenue": Decimal("225.00"),
                                       "arpu": Decimal("56.25"), "roi_proxy": Decimal("11.25")}
    assert [r["source"] for r in report["sources"]] == ["newsletter", "google.com", "direct", "(unattributed)"]


def test_zero_decimal_currencies_are_shown_in_their_own_units(funnel):
    revenue(funnel["d"], D, 5000, "JPY")
    growth_day_aggregate(day=D)
    direct = {r["source"]: r for r in growth_by_source(window=ONE_DAY)["sources"]}["direct"]
    assert direct["revenue"]["JPY"] == {"revenue_minor": 5000, "revenue": Decimal("5000"),
                                        "arpu": Decimal("5000.00"), "roi_proxy": Decimal("833.33")}


def test_a_day_aggregated_again_is_replaced_not_added(funnel):
    growth_day_aggregate(day=D)
    first = list(GrowthDay.objects.filter(day=D).order_by("source").values_list("source", "visits", "signups", "paid"))
    growth_day_aggregate(day=D)
    assert list(GrowthDay.objects.filter(day=D).order_by("source")
                .values_list("source", "visits", "signups", "paid")) == first
    GrowthEvent.objects.filter(kind="visit", source="google.com").delete()
    growth_day_aggregate(day=D)
    assert not GrowthDay.objects.filter(day=D, source="google.com", visits__gt=0).exists()
    assert GrowthRevenueDay.objects.filter(day=D).count() == 4


def test_dau_wau_mau_windows_by_source_and_paying_users(funnel):
    a, b, c, d = funnel["a"], funnel["b"], funnel["c"], funnel["d"]
    active(a, D, D - timedelta(days=3), D - timedelta(days=10))
    active(b, D - timedelta(days=6), D - timedelta(days=7))       # in the week's window (7 days ending D)
    active(c, D - timedelta(days=29), D - timedelta(days=30))     # the 30th day back is outside the month
    active(d, D + timedelta(days=1))                              # after the day: not counted
    # Paying at the end of D: a (moved to pro on D), b (pro since D-5, back to sandbox after D),
    # e (pro without any tier change recorded); not c (moved to pro after D) nor f (lapsed before D).
    for user, tier in ((a, "pro"), (c, "pro")):
        User.objects.filter(pk=user.pk).update(tier=tier)
    tier_moved(a, "sandbox", "pro", at(D, 10))
    tier_moved(b, "sandbox", "pro", at(D - timedelta(days=5)))
    tier_moved(b, "pro", "sandbox", at(D + timedelta(days=1), 1))
    tier_moved(c, "sandbox", "pro", at(D + timedelta(days=2)))
    e = signed_up("direct", D - timedelta(days=20))
    User.objects.filter(pk=e.pk).update(tier="enterprise")
    f = signed_up("google.com", D - timedelta(days=20))
    tier_moved(f, "sandbox", "pro", at(D - timedelta(days=9)))
    tier_moved(f, "pro", "sandbox", at(D - timedelta(days=2)))
    late = UserFactory(tier="pro")  # created after D: not a user on D
    assert late.created_at > at(D + timedelta(days=1))

    overall = retention_day_aggregate(day=D)
    assert overall == {"dau": 1, "wau": 2, "mau": 3, "paying": 3}
    rows = {r.source: (r.dau, r.wau, r.mau, r.paying) for r in RetentionDay.objects.filter(day=D)}
    assert rows == {"": (1, 2, 3, 3), "newsletter": (1, 2, 2, 2), "google.com": (0, 0, 1, 0), "direct": (0, 0, 0, 1)}
    retention_day_aggregate(day=D)  # again: replaced
    assert RetentionDay.objects.filter(day=D).count() == 4
    series = retention_series(window=Window(first=D - timedelta(days=1), last=D))
    assert series["dau"] == [None, 1] and series["mau"] == [None, 3]


def test_the_cohort_triangle_cells():
    """Through Wednesday 2026-11-04, 3 weeks: cohorts of 19 Oct (p, q, r), 26 Oct (s, t), 2 Nov (u)."""
    mon = date(2026, 10, 19)
    p, q, r = signed_up("x", mon), signed_up("x", mon + timedelta(days=2)), signed_up("x", mon + timedelta(days=6))
    s, t = signed_up("y", mon + timedelta(days=7)), signed_up("y", mon + timedelta(days=13))
    u = signed_up("x", D)
    before = signed_up("x", date(2026, 10, 1))
    active(p, mon, mon + timedelta(days=8), D - timedelta(days=1), D + timedelta(days=1))  # w0, w1, w2; after
    active(q, mon + timedelta(days=3), D)                                               # w0, w2
    active(s, mon + timedelta(days=7), mon + timedelta(days=8))                         # w0 twice: one user
    active(t, mon + timedelta(days=14))                                                 # w1 (its Monday)
    active(u, D)
    active(before, D)
    assert r and before

    assert cohort_triangle_aggregate(through=D, weeks=3) == 6
    cells = {(c.cohort, c.weeks_since): (c.size, c.active) for c in RetentionCohort.objects.all()}
    assert cells == {
        (mon, 0): (3, 2), (mon, 1): (3, 1), (mon, 2): (3, 2),
        (mon + timedelta(weeks=1), 0): (2, 1), (mon + timedelta(weeks=1), 1): (2, 1),
        (mon + timedelta(weeks=2), 0): (1, 1),
    }
    triangle = cohort_triangle(weeks=3)
    assert [row["cohort"] for row in triangle] == [mon, mon + timedelta(weeks=1), mon + timedelta(weeks=2)]
    assert [cell["pct"] for cell in triangle[0]["cells"]] == [Decimal("66.7"), Decimal("33.3"), Decimal("66.7")]
    assert cohort_triangle_aggregate(through=D, weeks=3) == 6  # replaced
    assert RetentionCohort.objects.count() == 6


def test_a_triangle_through_an_older_day_leaves_the_newer_cohorts_alone():
    """A backfill through 3 weeks ago rebuilds its weeks and keeps the cohorts of the weeks since."""
    mon = date(2026, 10, 19)
    old, new = signed_up("x", mon), signed_up("x", mon + timedelta(weeks=2))
    active(old, mon, mon + timedelta(weeks=2))
    active(new, mon + timedelta(weeks=2))
    assert cohort_triangle_aggregate(through=D, weeks=3) == 3 + 1  # the 19 Oct cohort's 3 weeks, 2 Nov's 1
    newer = list(RetentionCohort.objects.filter(cohort=mon + timedelta(weeks=2)).values_list("weeks_since", "size",
                                                                                             "active"))
    assert newer == [(0, 1, 1)]
    assert cohort_triangle_aggregate(through=mon + timedelta(days=2), weeks=3) == 1  # 19 Oct, its week 0
    assert list(RetentionCohort.objects.filter(cohort=mon + timedelta(weeks=2)).values_list(
        "weeks_since", "size", "active")) == newer


def test_the_schedules_compute_yesterday_and_are_idempotent(funnel, clock):
    yesterday = timezone.now().date() - timedelta(days=1)
    a = funnel["a"]
    GrowthEvent.objects.filter(user=a, kind="signup").update(day=yesterday)
    active(a, yesterday)
    visit("newsletter", yesterday)
    tasks.retention_aggregate()
    tasks.growth_aggregate()
    snapshot = (list(RetentionDay.objects.order_by("day", "source").values_list("day", "source", "dau", "mau")),
                list(GrowthDay.objects.order_by("day", "source").values_list("day", "source", "visits", "signups")))
    assert snapshot[0][-2:] == [(yesterday, "", 1, 1), (yesterday, "newsletter", 1, 1)]
    assert snapshot[1] == [(yesterday, "newsletter", 1, 1)]
    tasks.retention_aggregate()
    tasks.growth_aggregate()
    assert (list(RetentionDay.objects.order_by("day", "source").values_list("day", "source", "dau", "mau")),
            list(GrowthDay.objects.order_by("day", "source").values_list("day", "source", "visits", "signups"))) \
        == snapshot
    assert retention_aggregate(day=yesterday)["day"] == yesterday.isoformat()


def test_revenue_and_payments_recorded_after_a_nightly_run_reach_growth_the_next_night(clock):
    """00:10 aggregates yesterday; at 01:00 the ledger reconcile records a missed invoice of that
    day and a late webhook's first payment is dated on it: the next nights' runs pick them up."""
    day = timezone.now().date() - timedelta(days=1)
    user = signed_up("newsletter", day)
    revenue(user, day, 1900)
    tasks.growth_aggregate()
    revenue(user, day, 19900)  # the reconcile, after the run
    paid(user, day)            # a webhook processed late
    week_ago = timezone.now().date() - timedelta(days=settings.LEDGER_RECONCILE_DAYS)
    revenue(user, week_ago, 500)  # the oldest day tonight's reconcile looks back to
    clock.advance(24 * 3600)
    result = tasks.growth_aggregate()
    assert GrowthRevenueDay.objects.get(day=day).revenue_minor == 21800
    assert GrowthDay.objects.get(day=day).paid == 1
    assert GrowthRevenueDay.objects.get(day=week_ago).revenue_minor == 500
    assert result["days"] == settings.LEDGER_RECONCILE_DAYS + 1
    tasks.retention_aggregate()
    assert RetentionDay.objects.filter(day=day, source="").exists()  # the window, retention too
    report = growth_by_source(window=growth_window(days=7, today=day + timedelta(days=1)))
    assert report["total"]["revenue"]["USD"]["revenue_minor"] == 1900 + 19900 + 500


def test_the_backfill_command_reports_each_day_and_gives_the_same_tables(funnel):
    active(funnel["a"], D, D - timedelta(days=1))
    out = StringIO()
    call_command("growth_aggregate", "--days", "3", "--through", D.isoformat(), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Aggregating 3 days through 2026-11-04 (UTC)."
    assert lines[1].startswith("2026-11-02 (1/3): dau 0") and lines[3].startswith("2026-11-04 (3/3): dau 1, wau 1")
    assert "cohort triangle through 2026-11-04" in lines[4]
    tables = (list(GrowthDay.objects.order_by("day", "source").values_list()),)
    counts = (GrowthDay.objects.count(), RetentionDay.objects.count(), RetentionCohort.objects.count())
    call_command("growth_aggregate", "--days", "3", "--through", D.isoformat(), stdout=StringIO())
    assert (GrowthDay.objects.count(), RetentionDay.objects.count(), RetentionCohort.objects.count()) == counts
    assert [row[1:6] for row in GrowthDay.objects.order_by("day", "source").values_list()] == [r[1:6] for r in tables[0]]
    assert {d for d in GrowthDay.objects.values_list("day", flat=True)} == {D - timedelta(days=1), D}


def test_the_window_is_the_complete_days_ending_yesterday():
    window = growth_window(days=30, today=date(2026, 11, 26))
    assert (window.first, window.last, window.days) == (date(2026, 10, 27), date(2026, 11, 25), 30)


def test_the_old_analytics_endpoint_is_unchanged_by_growth_events(funnel, client_for):
    _, raw = api_key_for(scopes=["admin:read"])
    body = client_for(raw).get("/api/v1/analytics").json()
    assert set(body) == {"users", "referrals"}
    assert body["referrals"] == {"total_7d": 0, "total_30d": 0, "top_sources": []}  # growth events are not referrals
    assert set(body["users"]) == {"total", "new_7d", "new_30d"}
