"""The ledger's report checked by hand-computed numbers (revenue is never a cost), its API
(operators with admin:read only, days validated, amounts also in major units, a pinned query
count), the admin page (staff only, linked from the index, a chart per currency) and its CSV."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from intelligence.models import LedgerEntry
from intelligence.services.ledger import ledger_report
from jobs.models import Job
from tests.factories import JobFactory, UserFactory, api_key_for

pytestmark = pytest.mark.django_db


def _entry(day, kind, amount, currency="USD", *, pending=False):
    return LedgerEntry.objects.create(day=day, kind=kind, amount_minor=amount, currency=currency, pending=pending,
                                      source=f"test:{kind}:{day}:{amount}:{currency}:{LedgerEntry.objects.count()}")


def _reference_month(today):
    """The reference's figures (original-behaviour.md §4: ops 10, infra 20) on 100.00 USD of revenue,
    with a refund, fees, a fee given back and a pending payout, and a few EUR."""
    _entry(today, "revenue", 6000)
    _entry(today - timedelta(days=10), "revenue", 4000)
    _entry(today - timedelta(days=3), "refund", 500)
    _entry(today - timedelta(days=3), "stripe_fee", 320)
    _entry(today - timedelta(days=2), "fee_refund", 20)
    _entry(today - timedelta(days=1), "ai_cost", 1000)          # ops 10
    _entry(today - timedelta(days=5), "infra_cost", 2000)       # infra 20
    _entry(today - timedelta(days=4), "payout", 1200, pending=True)
    _entry(today - timedelta(days=30), "revenue", 99999)        # outside the 30 days
    _entry(today - timedelta(days=40), "payout", 300, pending=True)  # outside, but still owed
    _entry(today, "revenue", 1900, "EUR")


def test_the_report_by_hand_revenue_is_never_a_cost():
    today = timezone.now().date()
    _reference_month(today)
    report = ledger_report(days=30)
    assert (report["from"], report["to"], report["days"]) == ((today - timedelta(days=29)).isoformat(),
                                                              today.isoformat(), 30)
    usd = report["currencies"]["USD"]
    # total_costs = refunds 5.00 + fees (3.20 - 0.20) + AI 10.00 + infra 20.00 + payouts 12.00 = 50.00:
    # not 150.00, which adding the 100.00 of revenue in (as the old forecast did) would make.
    assert usd == {"revenue": 10000, "refunds": 500, "stripe_fees": 300, "ai_cost": 1000, "infra_cost": 2000,
                   "payouts": 1200, "payouts_pending": 1500, "platform_fees": 0, "total_costs": 5000, "net": 5000,
                   "margin_pct": 50.0}
    assert report["currencies"]["EUR"]["margin_pct"] == 100.0  # per currency, never converted
    # Only the reference's costs: ops 10 + infra 20 on 100 of revenue is a 70 % margin.
    LedgerEntry.objects.exclude(kind__in=["revenue", "ai_cost", "infra_cost"]).delete()
    usd = ledger_report(days=30)["currencies"]["USD"]
    assert (usd["total_costs"], usd["net"], usd["margin_pct"]) == (3000, 7000, 70.0)


def test_margin_is_none_without_revenue_and_negative_when_costs_exceed_it():
    today = timezone.now().date()
    _entry(today, "infra_cost", 500)
    assert ledger_report(days=7)["currencies"]["USD"]["margin_pct"] is None
    _entry(today, "revenue", 300)
    usd = ledger_report(days=7)["currencies"]["USD"]
    assert (usd["net"], usd["margin_pct"]) == (-200, -66.67)


# --- the API ----------------------------------------------------------------------------------------------------

def test_the_api_answers_operators_with_amounts_in_major_units_too(client_for):
    today = timezone.now().date()
    _reference_month(today)
    JobFactory(status=Job.Status.SUCCEEDED, finished_at=timezone.now(), actual_cost=Decimal("0.125"))
    _, raw = api_key_for(scopes=["admin:read"])
    body = client_for(raw).get("/api/v1/intelligence/ledger?days=30").json()
    usd = body["currencies"]["USD"]
    assert (usd["revenue"], usd["revenue_display"]) == (10000, "100.00")
    assert (usd["stripe_fees_display"], usd["net_display"], usd["payouts_pending_display"]) == ("3.00", "50.00", "15.00")
    assert usd["margin_pct"] == 50.0
    assert body["currencies"]["EUR"]["revenue_display"] == "19.00"
    # Today's AI cost so far: shown, not stored, not in the totals.
    assert body["today"]["ai_cost"] == {"day": today.isoformat(), "currency": "USD", "amount_minor": 13,
                                        "amount_display": "0.13", "jobs": 1}
    assert usd["ai_cost"] == 1000 and not LedgerEntry.objects.filter(day=today, kind="ai_cost").exists()
    assert client_for(raw).get("/api/v1/intelligence/ledger").json()["days"] == 30  # the default


@pytest.mark.parametrize("days", ["0", "366", "abc", "-5"])
def test_the_api_refuses_days_out_of_range(client_for, days):
    _, raw = api_key_for(scopes=["admin:read"])
    response = client_for(raw).get(f"/api/v1/intelligence/ledger?days={days}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed" and body["details"]["errors"][0]["field"] == "days"


def test_the_api_is_for_operators_only(client_for):
    assert Client().get("/api/v1/intelligence/ledger").status_code == 401
    _, raw = api_key_for()  # a customer's key: no admin:read
    refused = client_for(raw).get("/api/v1/intelligence/ledger")
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
    member = Client()
    member.force_login(UserFactory())
    assert member.get("/api/v1/intelligence/ledger").status_code == 403
    _, operator_key = api_key_for(scopes=["admin:read"])
    assert client_for(operator_key).get("/api/v1/intelligence/ledger?days=365").status_code == 200


def test_the_api_makes_the_same_few_queries_however_much_is_in_the_ledger(client_for, django_assert_max_num_queries):
    _, raw = api_key_for(scopes=["admin:read"])
    client = client_for(raw)
    client.get("/api/v1/intelligence/ledger")  # the key's lookups cached as in production
    today = timezone.now().date()
    for n in range(60):
        _entry(today - timedelta(days=n % 30), "revenue", 100 + n, ["USD", "EUR", "GBP"][n % 3])
    # The sums by currency and kind, the payouts owed, today's AI cost (the key cached as in production).
    with django_assert_max_num_queries(3):
        assert client.get("/api/v1/intelligence/ledger").status_code == 200


# --- the admin page and its CSV ---------------------------------------------------------------------------------

def test_the_admin_page_shows_a_chart_and_totals_per_currency_and_is_linked_from_the_index(operator):
    today = timezone.now().date()
    _reference_month(today)
    assert 'href="/admin/money/ledger/"' in operator.get("/admin/").content.decode()
    page = operator.get("/admin/money/ledger/?days=7")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="chart-ledger-usd"' in text and 'id="chart-ledger-eur"' in text
    assert text.count('class="col"') == 14  # one column per day, two charts
    assert 'aria-current="page">Last 7 days' in text
    # 7 days: the 60.00 of today, not the 40.00 of ten days ago.
    assert '<tr class="ledger-revenue"><th scope="row">Revenue</th><td class="ledger-amount">60.00 USD</td></tr>' in text
    assert "ledger-margin_pct" in text
    assert 'href="?days=7&amp;format=csv"' in text
    entries = operator.get("/admin/intelligence/ledgerentry/?kind__exact=fee_refund").content.decode()
    assert "0.20" in entries and "60.00" not in entries  # the entries, read-only, filtered by kind
    assert operator.get("/admin/intelligence/ledgerentry/add/").status_code == 403

    member = Client()
    member.force_login(UserFactory())
    assert member.get("/admin/money/ledger/").status_code == 302  # not staff: the admin's sign-in


def test_an_unknown_days_choice_shows_30_days(operator):
    assert 'aria-current="page">Last 30 days' in operator.get("/admin/money/ledger/?days=12").content.decode()


def test_the_csv_has_the_daily_rows_and_the_totals(operator):
    today = timezone.now().date()
    _reference_month(today)
    response = operator.get("/admin/money/ledger/?days=30&format=csv")
    assert response["Content-Type"].startswith("text/csv")
    since = (today - timedelta(days=29)).isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="ledger-{since}-to-{today.isoformat()}.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["section", "day", "currency", "kind", "amount_minor", "amount"]
    daily = [r for r in rows if r[0] == "daily"]
    assert ["daily", today.isoformat(), "USD", "revenue", "6000", "60.00"] in daily
    assert ["daily", (today - timedelta(days=2)).isoformat(), "USD", "fee_refund", "20", "0.20"] in daily
    assert ["daily", today.isoformat(), "EUR", "revenue", "1900", "19.00"] in daily
    assert len(daily) == 9  # the 9 entries of the window (one per day, currency and kind here)
    totals = {(r[2], r[3]): (r[4], r[5]) for r in rows if r[0] == "total"}
    assert totals[("USD", "total_costs")] == ("5000", "50.00")
    assert totals[("USD", "net")] == ("5000", "50.00")
    assert totals[("USD", "margin_pct")] == ("", "50.00")
    assert totals[("EUR", "revenue")] == ("1900", "19.00")


def test_daily_sums_of_several_entries_of_a_kind():
    from intelligence.selectors.ledger import ledger_daily

    day = date(2026, 11, 3)
    _entry(day, "revenue", 1900)
    _entry(day, "revenue", 19900)
    assert ledger_daily(since=day, until=day) == [{"day": day, "currency": "USD", "kind": "revenue",
                                                    "amount_minor": 21800}]
    assert ledger_report(days=1, now=datetime(2026, 11, 3, 8, tzinfo=UTC))["currencies"]["USD"]["revenue"] == 21800
