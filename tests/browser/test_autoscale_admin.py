"""The autoscale page in a real browser, as staff with an hour of decisions: reached from the
admin index, its three charts drawn (inline SVG styled from our static files), the latest
decisions with their reasons, and no CSP violation or console error (tests/browser/conftest.py).
Screenshots of the hour and day views go to test-artifacts/screenshots/."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_pages import sign_in_as
from tests.intelligence.autoscale_data import decisions_of_the_last

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("autoscale-browser@levqor.test", "a-long-operator-password")


def test_staff_open_the_autoscale_page_from_the_admin_index(page, live_server, staff, screenshot):
    decisions_of_the_last(50)
    sign_in_as(page.context, live_server, staff)

    page.goto("/admin/")
    page.click("#autoscale-admin-link")
    page.wait_for_url("**/admin/money/autoscale/")
    expect(page.locator("h1")).to_have_text("Profit-driven autoscale")
    expect(page.locator("#autoscale-latest .ops-big")).to_have_text("hold: 1 worker")
    expect(page.locator("svg.chart")).to_have_count(3)
    expect(page.locator("#chart-workers .col")).to_have_count(60)
    expect(page.locator("#chart-workers .line")).to_have_count(1)
    expect(page.locator("#autoscale-decisions tbody tr")).to_have_count(30)
    expect(page.locator("#autoscale-decisions tr.autoscale-freeze")).to_contain_text("but frozen (margin 8 % under 10 %)")
    expect(page.locator("#autoscale-flag .ops-big")).to_have_text("Off")
    # The stylesheet applied: the workers' line is stroked in its series' colour, not left black.
    stroke = page.eval_on_selector("#chart-workers .line.s-workers", "e => getComputedStyle(e).stroke")
    assert stroke not in ("", "none", "rgb(0, 0, 0)"), stroke
    screenshot("hour")

    page.click("a.ops-range >> text=Last day")
    page.wait_for_url("**/admin/money/autoscale/?range=day")
    expect(page.locator("#chart-workers .col")).to_have_count(24)
    expect(page.locator("a.ops-range.current")).to_have_text("Last day")
    screenshot("day")
