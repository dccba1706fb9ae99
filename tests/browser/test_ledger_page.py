"""The profit ledger page in a real browser, as staff with a month of money in two currencies:
reached from the admin index, a chart per currency (revenue line over stacked costs, styled from
our static files), the totals, the days selector and the CSV link, with no CSP violation or
console error (tests/browser/conftest.py). Screenshots go to test-artifacts/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from intelligence.models import InfraCost, LedgerEntry
from intelligence.services.ledger import ledger_payout_record
from intelligence.services.ledger_costs import infra_cost_save
from tests.browser.test_pages import sign_in_as

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("money-browser@levqor.test", "a-long-operator-password")


def _a_month_of_money():
    today = timezone.now().date()
    for n in range(30):
        day = today - timedelta(days=n)
        if n % 3 == 0:
            LedgerEntry.objects.create(day=day, kind="revenue", amount_minor=1900 * (1 + n % 4), currency="USD",
                                       source=f"browser:rev:{n}")
            LedgerEntry.objects.create(day=day, kind="stripe_fee", amount_minor=85 * (1 + n % 4), currency="USD",
                                       source=f"browser:fee:{n}")
        LedgerEntry.objects.create(day=day, kind="ai_cost", amount_minor=150 + 40 * (n % 5), currency="USD",
                                   source=f"browser:ai:{n}")
    LedgerEntry.objects.create(day=today - timedelta(days=4), kind="refund", amount_minor=1900, currency="USD",
                               source="browser:refund")
    LedgerEntry.objects.create(day=today - timedelta(days=2), kind="revenue", amount_minor=17450, currency="EUR",
                               source="browser:eur")
    ledger_payout_record(order_ref="ord_browser", amount_minor=1330, currency="usd", day=today - timedelta(days=1),
                         pending=True)
    infra_cost_save(infra_cost=InfraCost(), month=today.replace(day=1), currency="USD", amount_minor=30000)
    if (today - timedelta(days=29)).month != today.month:
        infra_cost_save(infra_cost=InfraCost(), month=(today - timedelta(days=29)).replace(day=1), currency="USD",
                        amount_minor=28000)


def test_staff_open_the_ledger_from_the_admin_index_and_see_its_charts(page, live_server, staff, screenshot):
    _a_month_of_money()
    sign_in_as(page.context, live_server, staff)

    page.goto("/admin/")
    page.click("#money-link a")
    page.wait_for_url("**/admin/money/ledger/")
    expect(page.locator("h1")).to_have_text("Profit ledger")
    expect(page.locator("svg.chart")).to_have_count(2)                    # USD and EUR
    expect(page.locator("#chart-ledger-usd .col")).to_have_count(30)      # a column per day
    expect(page.locator("#chart-ledger-usd .line.s-revenue")).to_have_count(1)
    expect(page.locator("#chart-ledger-usd .bar.s-ai")).to_have_count(30)
    expect(page.locator("#ledger-totals-usd .ledger-payouts_pending td")).to_have_text("13.30 USD")
    expect(page.locator("#ledger-totals-eur .ledger-revenue td")).to_have_text("174.50 EUR")
    # The stylesheets applied: the revenue line and the cost bars are in their colours, not black.
    stroke = page.eval_on_selector("#chart-ledger-usd .line.s-revenue", "e => getComputedStyle(e).stroke")
    fill = page.eval_on_selector("#chart-ledger-usd .bar.s-ai", "e => getComputedStyle(e).fill")
    assert stroke not in ("", "none", "rgb(0, 0, 0)") and fill not in ("", "none", "rgb(0, 0, 0)"), (stroke, fill)
    screenshot("30-days")

    page.click("a.ops-range >> text=Last 7 days")
    page.wait_for_url("**/admin/money/ledger/?days=7")
    expect(page.locator("#chart-ledger-usd .col")).to_have_count(7)
    expect(page.locator("a.ops-range.current")).to_have_text("Last 7 days")
    screenshot("7-days")

    page.click("a.ops-range >> text=Last 90 days")
    page.wait_for_url("**/admin/money/ledger/?days=90")
    expect(page.locator("#chart-ledger-usd .col")).to_have_count(90)
    with page.expect_download() as download:
        page.click("#ledger-csv")
    assert download.value.suggested_filename.startswith("ledger-") and download.value.suggested_filename.endswith(".csv")
    screenshot("90-days")
