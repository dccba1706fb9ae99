"""The operations dashboard (/admin/operations/): staff only, linked from the admin index, its
numbers read from the rollups as an operator would check them by hand (the day and week from the
hourly rows, agreeing with the minutes), incidents and anomalies marked, stabilize state and open alerts shown, an
empty install said so, and every page under our CSP."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from intelligence.models import Alert, Anomaly, Incident, MetricMinute
from intelligence.selectors.dashboard import RANGES, dashboard_read, dashboard_stabilize
from intelligence.services import stabilize
from intelligence.services.stabilize import stabilize_on
from levqor.histogram import histogram_merge, histogram_percentile
from tests.factories import UserFactory
from tests.intelligence.metrics_data import gauge_row, rollups_save, timing_row, week_of_rollups
from tests.levqor.test_edge import _check_page

pytestmark = pytest.mark.django_db

URL = "/admin/operations/"
NOW = datetime(2026, 11, 26, 12, 7, 30, tzinfo=UTC)
INTAKE = {"route": "/api/v1/intake", "method": "POST", "status_class": "2xx"}
STATUS = {"route": "/api/v1/status/<id>", "method": "GET", "status_class": "5xx"}


def _checked(response) -> str:
    """The page, once it is known to work under our CSP and to load nothing from elsewhere."""
    _check_page(response)
    return response.content.decode()


# --- who may see it -----------------------------------------------------------------------------

def test_anonymous_visitors_are_sent_to_the_admin_sign_in():
    response = Client().get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next=/admin/operations/")


def test_a_signed_in_user_who_is_not_staff_is_refused():
    client = Client()
    client.force_login(UserFactory(is_staff=False))
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert b"Operations dashboard" not in client.get(URL, follow=True).content.split(b"<h1")[0]


def test_staff_without_superuser_rights_see_it():
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    response = client.get(URL)
    assert response.status_code == 200 and b"<h1>Operations dashboard</h1>" in response.content


def test_the_admin_index_links_to_it(operator):
    page = operator.get("/admin/").content.decode()
    assert re.search(r'id="operations-dashboard-link".*?href="/admin/operations/"', page, re.S)
    assert "<h2>Operations</h2>" in page and "Recent actions" in page  # the admin's own index is still there


# --- no data yet ----------------------------------------------------------------------------------

@pytest.mark.parametrize("range_name", list(RANGES))
def test_with_no_rollups_yet_it_says_so(operator, range_name):
    response = operator.get(URL, {"range": range_name})
    page = _checked(response)
    assert "No rollups in this range yet" in page
    assert '<svg class="chart"' not in page
    assert "No open alerts." in page and "No incidents in this range." in page


# --- the numbers --------------------------------------------------------------------------------

def _hour_of_minutes():
    """Two routes and a workflow over the hour before NOW (12:07:30) as the rollup has written it:
    every minute up to 12:06 (12:07 is still going on), the queue depth each minute."""
    rows = []
    start = datetime(2026, 11, 26, 11, 8, tzinfo=UTC)
    for m in range(59):
        minute = start + timedelta(minutes=m)
        rows.append(timing_row(minute, "http.request", INTAKE, [10 + m, 20 + m, 30 + 2 * m, 400], errors=0))
        rows.append(timing_row(minute, "http.request", STATUS, [900 + m], errors=1))
        rows.append(timing_row(minute, "job.run", {"workflow": "demo.flow"}, [50, 60 + m], errors=m % 10 == 0))
        rows.append(timing_row(minute, "job.wait", {"workflow": "demo.flow"}, [5 + m, 7 + m]))
        rows.append(gauge_row(minute, "queue.depth", {}, float(m)))
    return rollups_save(rows)


def test_the_hour_in_one_minute_points_adds_up_as_by_hand():
    rows = _hour_of_minutes()
    board = dashboard_read("hour", now=NOW)
    assert (board.start, board.end, len(board.buckets)) == (
        datetime(2026, 11, 26, 11, 8, tzinfo=UTC), datetime(2026, 11, 26, 12, 8, tzinfo=UTC), 60)
    assert board.has_data and board.minute_rows == len(rows) and board.hour_rows == 0

    minute_10 = [r for r in rows if r.minute == board.buckets[10]]
    requests = [r for r in minute_10 if r.series == "http.request"]
    assert board.requests[10] == 5 and board.request_rate[10] == 5.0
    assert board.error_rate[10] == pytest.approx(100 * 1 / 5)
    merged = histogram_merge(r.histogram for r in requests)
    assert (board.p50[10], board.p95[10], board.p99[10]) == tuple(histogram_percentile(merged, q) for q in (50, 95, 99))
    assert board.p99[10] >= 900  # the slow 5xx answer is in the merged histogram, not averaged away
    assert (board.jobs_succeeded[10], board.jobs_failed[10]) == (1, 1)
    assert (board.jobs_succeeded[11], board.jobs_failed[11]) == (2, 0)
    assert board.wait_mean[10] == pytest.approx((15 + 17) / 2)
    assert (board.depth_avg[10], board.depth_max[10]) == (10.0, 10.0)
    # The minute in progress (12:07) has no row: its point is empty, not zero.
    assert board.request_rate[-1] is None and board.error_rate[-1] is None and board.p95[-1] is None

    totals = board.totals
    assert (totals["requests"], totals["errors"]) == (295, 59)
    assert totals["request_rate"] == pytest.approx(295 / 59)  # 59 minutes of the hour have ended
    assert totals["error_rate"] == pytest.approx(20.0)
    every_request = histogram_merge(r.histogram for r in rows if r.series == "http.request")
    assert totals["p95"] == histogram_percentile(every_request, 95)
    assert (totals["jobs"], totals["jobs_failed"]) == (118, 6)
    assert (totals["depth_now"], totals["depth_now_at"]) == (58.0, datetime(2026, 11, 26, 12, 6, tzinfo=UTC))

    [workflow] = board.workflows
    assert (workflow["name"], workflow["jobs"], workflow["failed"]) == ("demo.flow", 118, 6)
    assert workflow["failure_rate"] == pytest.approx(100 * 6 / 118)
    assert [r["route"] for r in board.routes] == ["/api/v1/intake", "/api/v1/status/<id>"]
    assert board.routes[1]["error_rate"] == 100.0


def test_a_point_still_in_progress_is_a_rate_over_the_minutes_it_has_had():
    # The day view's last hour (12:00-13:00) has had 7 whole minutes at 12:07:30.
    rollups_save([timing_row(datetime(2026, 11, 26, 12, m, tzinfo=UTC), "http.request", INTAKE,
                                                 [10.0] * 6) for m in range(7)])
    board = dashboard_read("day", now=NOW)
    assert board.buckets[-1] == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert board.requests[-1] == 42 and board.request_rate[-1] == pytest.approx(6.0)


def test_a_minute_the_rollup_wrote_without_requests_is_zero_and_one_it_never_wrote_is_a_gap():
    MetricMinute.objects.bulk_create([
        gauge_row(datetime(2026, 11, 26, 11, 30, tzinfo=UTC), "queue.depth", {}, 0.0),
        timing_row(datetime(2026, 11, 26, 11, 31, tzinfo=UTC), "http.request", INTAKE, [10.0, 12.0]),
        gauge_row(datetime(2026, 11, 26, 11, 31, tzinfo=UTC), "queue.depth", {}, 1.0)])
    board = dashboard_read("hour", now=NOW)
    at = {bucket: i for i, bucket in enumerate(board.buckets)}
    rate = [board.request_rate[at[datetime(2026, 11, 26, 11, m, tzinfo=UTC)]] for m in (29, 30, 31, 32)]
    assert rate == [None, 0.0, 2.0, None]
    assert board.totals["request_rate"] == 1.0  # 2 requests over the 2 minutes rolled up


def test_the_range_comes_from_the_url_and_anything_else_is_the_last_hour(operator):
    rollups_save(week_of_rollups(timezone.now().replace(second=0, microsecond=0), minutes=30))
    for name, points in [("hour", 60), ("day", 24), ("week", 168), ("fortnight", 60), ("", 60)]:
        page = operator.get(URL, {"range": name}).content.decode()
        assert len(re.findall(r'<rect class="col"', page.split('id="chart-rate"')[1].split("</svg>")[0])) == points
    assert 'aria-current="page">Last week' in operator.get(URL, {"range": "week"}).content.decode()


@pytest.mark.parametrize("range_name", ["day", "week"])
def test_hourly_points_are_read_from_the_hours_and_agree_with_the_minutes_added_up_by_hand(range_name):
    rows = rollups_save(week_of_rollups(NOW.replace(second=0), minutes=2 * 24 * 60, seed=3))
    board = dashboard_read(range_name, now=NOW)
    assert board.range.step_minutes == 60 and board.has_data
    rows = [r for r in rows if board.start <= r.minute < board.end]
    by_hour: dict[datetime, list] = {}
    for row in rows:
        by_hour.setdefault(row.minute.replace(minute=0), []).append(row)
    timed = {(r.minute.replace(minute=0), r.series, r.labels_key) for r in rows if r.series != "queue.depth"}
    # Hours for the timed series; the queue depth's minutes, for its average.
    assert board.hour_rows == len(timed)
    assert board.minute_rows == sum(r.series == "queue.depth" for r in rows)
    for i, bucket in enumerate(board.buckets):
        in_point = by_hour.get(bucket, [])
        requests = [r for r in in_point if r.series == "http.request"]
        assert board.requests[i] == sum(r.count for r in requests)
        merged = histogram_merge(r.histogram for r in requests)
        assert (board.p50[i], board.p95[i], board.p99[i]) == tuple(histogram_percentile(merged, q) for q in (50, 95, 99))
        assert board.jobs_failed[i] == sum(r.errors for r in in_point if r.series == "job.run")
        depth = [r.value for r in in_point if r.series == "queue.depth"]
        assert board.depth_max[i] == (max(depth) if depth else None)
        assert board.depth_avg[i] == (pytest.approx(sum(depth) / len(depth)) if depth else None)
        assert (board.request_rate[i] is None) == (not in_point)  # an hour nothing was rolled up in is a gap
    # The timed series' minutes are not read at all: without them the picture is the same.
    MetricMinute.objects.exclude(series="queue.depth").delete()
    again = dashboard_read(range_name, now=NOW)
    for name in ("requests", "request_rate", "error_rate", "p95", "depth_avg", "wait_p95", "jobs_failed", "totals",
                 "workflows", "routes"):
        assert getattr(again, name) == getattr(board, name), name


# --- what is marked and listed -------------------------------------------------------------------

def _events(now):
    Incident.objects.create(title="SLO breach <p99>", opened_at=now - timedelta(minutes=30))
    Incident.objects.create(title="Long over", opened_at=now - timedelta(days=3), resolved_at=now - timedelta(days=2),
                            status=Incident.Status.RESOLVED)
    Anomaly.objects.create(series="http.request.p95 route=/api/v1/intake", opened_at=now - timedelta(minutes=20),
                           value=512.0, z_score=3.4, method=Anomaly.Method.ZSCORE, window=500)
    Anomaly.objects.create(series="job.run workflow=demo.flow", opened_at=now - timedelta(minutes=10),
                           cleared_at=now - timedelta(minutes=5), value=9000.0, method=Anomaly.Method.SPIKE, window=20)


def _chart(page, key):
    return page.split(f'id="chart-{key}"')[1].split("</svg>")[0]


def test_incidents_and_anomalies_are_marked_on_the_charts_and_listed(operator):
    now = timezone.now()
    rollups_save(week_of_rollups(now.replace(second=0, microsecond=0), minutes=60))
    _events(now)
    page = _checked(operator.get(URL))
    # The open incident on every chart, with what it was (escaped); the one of 3 days ago on none.
    for key in ("rate", "errors", "latency", "depth", "wait", "jobs"):
        assert _chart(page, key).count('class="band-incident"') == 1, key
        assert "Incident: SLO breach &lt;p99&gt;" in _chart(page, key)
    assert "Long over" not in page
    # Each anomaly on the chart of its series.
    assert "Anomaly: http.request.p95 route=/api/v1/intake" in _chart(page, "latency")
    assert "Anomaly: job.run workflow=demo.flow" in _chart(page, "jobs")
    assert 'class="mark-anomaly"' not in _chart(page, "rate")
    assert "z-score, z 3.4" in _chart(page, "latency") and "still open" in _chart(page, "latency")
    tables = page.split('id="ops-incidents"')[1]
    assert "SLO breach &lt;p99&gt;" in tables and "job.run workflow=demo.flow" in tables
    assert re.search(r'id="ops-incidents-count">\s*<h2>Open incidents</h2>\s*<p class="ops-big">1</p>', page)
    assert re.search(r'id="ops-anomalies-count">\s*<h2>Open anomalies</h2>\s*<p class="ops-big">1</p>', page)
    # The week view reaches back to the incident of 3 days ago.
    assert "Long over" in operator.get(URL, {"range": "week"}).content.decode()


def test_open_and_acknowledged_alerts_are_listed_newest_first_resolved_ones_not(operator):
    now = timezone.now()
    for n in range(23):
        Alert.objects.create(source="test", severity="warning", title=f"Alert number {n}", dedup_key=f"k{n}",
                             first_seen=now - timedelta(minutes=60 - n), last_seen=now - timedelta(minutes=60 - n),
                             status=Alert.Status.ACKNOWLEDGED if n == 22 else Alert.Status.OPEN,
                             acknowledged_by=operator.user if n == 22 else None)
    Alert.objects.create(source="test", severity="critical", title="Fixed already", dedup_key="fixed", first_seen=now,
                         last_seen=now, status=Alert.Status.RESOLVED)
    page = _checked(operator.get(URL))
    listed = re.findall(r"Alert number (\d+)", page.split('id="ops-alerts"')[1].split("</table>")[0])
    assert listed == [str(n) for n in range(22, 2, -1)]  # the 20 seen last, newest first
    assert "Acknowledged by ops@levqor.test" in page
    assert "Fixed already" not in page
    assert re.search(r'<h2>Open alerts</h2>\s*<p class="ops-big">23</p>', page)
    assert "The 20 seen last of 23" in page


def test_stabilize_mode_is_shown_with_since_when_by_whom_and_why(operator, django_capture_on_commit_callbacks):
    assert dashboard_stabilize()["enabled"] is False
    assert re.search(r'id="ops-stabilize">\s*<h2>Stabilize mode</h2>\s*<p class="ops-big">Off</p>',
                     operator.get(URL).content.decode())
    with django_capture_on_commit_callbacks(execute=True):  # the state's cache entry is cleared on commit
        event = stabilize_on(actor=operator.user, reason="Deploy freeze <until 18:00>", source="admin")
    stabilize.reset()  # this process's memo, as another process would not have one
    state = dashboard_stabilize()
    assert (state["enabled"], state["since"], state["by"]) == (True, event.at, "ops@levqor.test")
    page = operator.get(URL).content.decode()
    assert re.search(r'id="ops-stabilize">\s*<h2>Stabilize mode</h2>\s*<p class="ops-big">On</p>', page)
    assert f"Automatic changes are held since {event.at:%-d %b %H:%M} UTC by ops@levqor.test." in page
    assert "Deploy freeze &lt;until 18:00&gt;" in page
    link = re.search(r'<a href="([^"]+)">The switch</a>', page).group(1)
    switches = operator.get(link)
    assert switches.status_code == 200 and switches.context["cl"].result_count == 1
