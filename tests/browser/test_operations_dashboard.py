"""The operations dashboard in a real browser, as staff with a day of rollups: reached from the
admin index, its charts drawn (inline SVG, styled from our static files), incidents and
anomalies marked, and no CSP violation or console error (tests/browser/conftest.py). Screenshots
of the hour, day and week views go to test-artifacts/screenshots/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from intelligence.models import Alert, Anomaly, Incident
from intelligence.services.stabilize import stabilize_on
from tests.browser.test_pages import sign_in_as
from tests.intelligence.metrics_data import rollups_save, week_of_rollups

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("ops-browser@levqor.test", "a-long-operator-password")


def _operations_with_a_day_of_data():
    now = timezone.now()
    rollups_save(week_of_rollups(now.replace(second=0, microsecond=0), minutes=24 * 60))
    Incident.objects.create(title="SLO breach: p99 over 200 ms", opened_at=now - timedelta(hours=5),
                            resolved_at=now - timedelta(hours=4), status=Incident.Status.RESOLVED)
    Incident.objects.create(title="SLO breach: error rate over 0.5 %", opened_at=now - timedelta(minutes=25))
    Anomaly.objects.create(series="http.request.p95 route=/api/v1/intake", opened_at=now - timedelta(minutes=12),
                           value=812.0, z_score=4.2, method=Anomaly.Method.ZSCORE, window=500)
    Alert.objects.create(source="slo", severity="critical", title="SLO breach: error rate over 0.5 %",
                         dedup_key="slo:errors", first_seen=now - timedelta(minutes=25), last_seen=now, count=3)
    stabilize_on(actor_label="on-call", reason="Deploy freeze", source="admin")


def test_staff_open_the_dashboard_from_the_admin_index_and_see_its_charts(page, live_server, staff, screenshot):
    _operations_with_a_day_of_data()
    sign_in_as(page.context, live_server, staff)

    page.goto("/admin/")
    page.click("#operations-dashboard-link a")
    page.wait_for_url("**/admin/operations/")
    expect(page.locator("h1")).to_have_text("Operations dashboard")
    expect(page.locator("svg.chart")).to_have_count(6)
    expect(page.locator("#chart-latency .line")).to_have_count(3)   # p50, p95, p99
    expect(page.locator("#chart-rate .col")).to_have_count(60)      # one column per minute of the hour
    expect(page.locator("#chart-latency .mark-anomaly")).to_have_count(1)
    expect(page.locator("#chart-rate .mark-incident")).to_have_count(1)  # the open one; the other is 5 h ago
    expect(page.locator("#ops-stabilize .ops-big")).to_have_text("On")
    expect(page.locator("#ops-stabilize")).to_contain_text("by on-call")
    expect(page.locator("#ops-stabilize .ops-reason")).to_have_text("Deploy freeze")
    expect(page.locator("#ops-alerts")).to_contain_text("SLO breach: error rate over 0.5 %")
    # The stylesheet applied: lines are stroked in their series' colour, not left black.
    stroke = page.eval_on_selector("#chart-latency .line.s-p95", "e => getComputedStyle(e).stroke")
    assert stroke not in ("", "none", "rgb(0, 0, 0)"), stroke
    screenshot("hour")

    page.click("a.ops-range >> text=Last day")
    page.wait_for_url("**/admin/operations/?range=day")
    expect(page.locator("#chart-rate .col")).to_have_count(24)
    expect(page.locator("#chart-rate .mark-incident")).to_have_count(2)
    expect(page.locator("a.ops-range.current")).to_have_text("Last day")
    screenshot("day")

    page.click("a.ops-range >> text=Last week")
    page.wait_for_url("**/admin/operations/?range=week")
    expect(page.locator("#chart-rate .col")).to_have_count(168)
    screenshot("week")
