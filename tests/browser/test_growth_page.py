"""The growth funnel in a real browser: a visitor who lands from a campaign and accepts analytics
cookies in the banner has their visit stored under that campaign (and one who refuses has none);
staff open the growth page from the admin index and see its charts, the by-source table and the
cohort heat map, with no CSP violation or console error. Screenshots go to
test-artifacts/screenshots/."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from intelligence.models import GrowthEvent
from intelligence.services.growth_aggregates import growth_backfill
from tests.browser.test_pages import decide, sign_in_as
from tests.intelligence.growth_support import a_month_of_growth

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("growth-browser@levqor.test", "a-long-operator-password")


def test_a_visitor_who_accepts_analytics_is_counted_under_their_campaign(page, screenshot):
    page.goto("/login?utm_source=browser-test&utm_campaign=launch&utm_medium=email")
    assert not GrowthEvent.objects.exists()  # nothing before consent
    decide(page, "#cookie-accept-all")
    with page.expect_navigation():
        page.click("a[href='/faq']")  # the next page: its Referer is the landing page, with its parameters
    visit = GrowthEvent.objects.get(kind="visit")
    assert (visit.source, visit.campaign, visit.medium) == ("browser-test", "launch", "email")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["levqor_first_touch"]["httpOnly"]
    screenshot("visitor")


def test_a_visitor_who_refuses_is_not_counted(page):
    page.goto("/login?utm_source=browser-test")
    decide(page, "#cookie-reject-all")
    page.goto("/marketing/confirm")
    assert not GrowthEvent.objects.filter(kind="visit").exists()
    assert "levqor_first_touch" not in {c["name"] for c in page.context.cookies()}


def test_staff_open_the_growth_page_and_see_its_charts_and_heat_map(page, live_server, staff, screenshot):
    a_month_of_growth(timezone.now().date())
    growth_backfill(days=30)
    sign_in_as(page.context, live_server, staff)

    page.goto("/admin/")
    page.click("#growth-link")
    page.wait_for_url("**/admin/money/growth/")
    expect(page.locator("h1")).to_have_text("Growth funnel and retention")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#chart-funnel .line")).to_have_count(3)   # visits, signups, new paying
    expect(page.locator("#chart-active .line")).to_have_count(3)   # DAU, WAU, MAU
    expect(page.locator("#chart-funnel .col")).to_have_count(30)   # one column per day
    expect(page.locator("#growth-sources tr.growth-source[data-source='newsletter']")).to_have_count(1)
    assert page.locator("table.heatmap td.heat").count() > 0
    # The stylesheet applied: a full cell is shaded, an empty one is not.
    shaded = page.eval_on_selector("table.heatmap td.heat:not(.heat-none)", "e => getComputedStyle(e).backgroundColor")
    assert shaded not in ("", "rgba(0, 0, 0, 0)", "transparent"), shaded
    stroke = page.eval_on_selector("#chart-active .line.s-mau", "e => getComputedStyle(e).stroke")
    assert stroke not in ("", "none", "rgb(0, 0, 0)"), stroke
    screenshot("30-days")

    page.click("a.ops-range >> text=Last 7 days")
    page.wait_for_url("**/admin/money/growth/?days=7")
    expect(page.locator("#chart-funnel .col")).to_have_count(7)
    page.click("#growth-recompute")
    expect(page.locator(".messagelist")).to_contain_text("Recomputed the 7 days")
    screenshot("7-days-recomputed")
