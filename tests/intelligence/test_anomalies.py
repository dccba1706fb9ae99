"""Anomalies: the reference's rules at their thresholds (z-score over 3 against the last 500
samples, at least 10; IQR fences; the spike rule over the last 20, at least 5), the scan over
the per-minute rollups (route groups, run time per workflow), one open anomaly per series until
it clears, its alert, and the API."""

import statistics
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import DEFAULT_SCOPES
from intelligence.models import Alert, Anomaly, AnomalySeries, MetricMinute
from intelligence.services.anomalies import anomaly_judge, anomaly_scan, iqr_fences, route_group, z_score
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for
from tests.intelligence.rollups import read_as, request_minute, timing_minute

pytestmark = pytest.mark.django_db

# 500 samples around 100/200 ms; the last 20 swing wider (100/400), so the spike rule's bar
# (last 20: mean 250 + 2 * pstdev 150 = 550) is above the z-score's and the IQR fences'.
Z_BASELINE = [100.0, 200.0] * 240 + [100.0, 400.0] * 10


def test_z_score_is_distance_from_the_mean_over_stdev_and_finds_above_3():
    assert statistics.fmean(Z_BASELINE) == 154.0
    std = statistics.stdev(Z_BASELINE)
    assert z_score(Z_BASELINE, 154.0 + 3 * std) == pytest.approx(3.0, abs=1e-6)
    assert iqr_fences(Z_BASELINE) == (-50.0, 350.0)  # Q1 100, Q3 200: both readings below are inside
    under, over = anomaly_judge([*Z_BASELINE, 336.0]), anomaly_judge([*Z_BASELINE, 337.0])
    assert under.z_score == pytest.approx(182 / (std + 1e-6), abs=1e-3) and under.z_score < 3
    assert (under.ready, under.anomaly, under.method) == (True, False, "")
    assert over.z_score > 3 and (over.anomaly, over.method, over.latency_ms, over.window) == (True, "zscore", 337.0, 500)
    assert anomaly_judge([*Z_BASELINE, -29.0]).method == "zscore"  # |x - mean| both ways


def test_the_z_score_counts_only_the_last_500_samples():
    wild_past = [5000.0] * 100
    assert anomaly_judge([*wild_past, *Z_BASELINE, 337.0]).method == "zscore"
    assert anomaly_judge([*wild_past, *Z_BASELINE, 337.0]).window == 500


def test_readings_outside_the_iqr_fences_are_anomalies_both_ways():
    # Old outliers make the standard deviation wide (z stays low), the last 20 swing to 140 (the
    # spike bar is 160); Q1 100 and Q3 110 put the fences at 85 and 125.
    baseline = [1000.0] * 10 + [100.0, 110.0] * 235 + [100.0, 140.0] * 10
    assert iqr_fences(baseline) == (85.0, 125.0)
    assert anomaly_judge([*baseline, 125.0]).anomaly is False
    high = anomaly_judge([*baseline, 125.5])
    assert (high.anomaly, high.method) == (True, "iqr") and high.z_score < 3
    assert anomaly_judge([*baseline, 85.0]).anomaly is False
    assert anomaly_judge([*baseline, 84.5]).method == "iqr"


def test_the_spike_rule_takes_the_last_20_and_needs_5():
    baseline = [100.0, 200.0] * 250  # last 20: mean 150, pstdev 50: the bar is 250
    assert anomaly_judge([*baseline, 250.0]).anomaly is False  # not above the bar
    spike = anomaly_judge([*baseline, 251.0])
    assert (spike.anomaly, spike.method) == (True, "spike") and spike.z_score < 3
    # Only the last 20 count: over all 500 the wide swings before them would put the bar near 1450.
    assert anomaly_judge([*([0.0, 1000.0] * 240), *([100.0, 200.0] * 10), 251.0]).method == "spike"
    # Five samples are enough for the spike rule (mean 140, pstdev 49: the bar is 238), four are not.
    five = anomaly_judge([100.0, 200.0, 100.0, 200.0, 100.0, 240.0])
    assert (five.ready, five.anomaly, five.method, five.z_score) == (False, True, "spike", None)
    four = anomaly_judge([100.0, 200.0, 100.0, 200.0, 10_000.0])
    assert (four.ready, four.anomaly) == (False, False)


def test_not_ready_below_10_samples_then_judged():
    nine = anomaly_judge([100.0, 110.0] * 4 + [100.0] + [105.0])
    assert (nine.ready, nine.z_score, nine.window, nine.anomaly) == (False, None, 9, False)
    ten = anomaly_judge([100.0, 110.0] * 5 + [105.0])
    assert (ten.ready, ten.window, ten.anomaly) == (True, 10, False) and ten.z_score == pytest.approx(0.0, abs=1e-6)
    assert anomaly_judge([]).ready is False


def test_route_groups_by_the_leading_path_segments():
    assert route_group("/api/v1/jobs/<uuid:job_id>/cancel") == "/api/v1/jobs"
    assert route_group("api/v1/jobs") == "/api/v1/jobs"
    assert route_group("/api/v1/intake") == "/api/v1/intake"
    assert route_group("/admin/intelligence/anomaly/") == "/admin"
    assert route_group("/") == "/"
    assert route_group("job-detail") == "job-detail"  # a route name stays itself


def _minute(minutes_ago: int):
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)


def _steady(minutes: int, *, route="/api/v1/jobs/<uuid:job_id>"):
    """`minutes` normal minutes before this one, oldest first, alternating 100 and 110 ms."""
    for ago in range(minutes, 0, -1):
        request_minute(_minute(ago), [100.0 if ago % 2 else 110.0] * 3, route=route)


def test_a_finding_opens_one_anomaly_with_an_alert_until_the_series_is_normal_again(clock):
    _steady(12)
    assert anomaly_scan() == []
    clock.advance(60)
    # Two routes of one group in the same minute count together (their histograms merged).
    request_minute(_minute(1), [100.0] * 10, route="/api/v1/jobs")
    request_minute(_minute(1), [900.0] * 10, route="/api/v1/jobs/<uuid:job_id>/retry", method="POST")
    (anomaly,) = anomaly_scan()
    assert anomaly.series == "http.request.p95 route=/api/v1/jobs"
    assert (anomaly.value, anomaly.method, anomaly.window) == (read_as(900.0), "zscore", 12)
    assert anomaly.z_score > 3 and anomaly.cleared_at is None
    alert = Alert.objects.get()
    assert anomaly.alert == alert and (alert.source, alert.severity) == ("anomaly", "warning")
    assert "http.request.p95 route=/api/v1/jobs" in alert.title and "z-score" in alert.title

    clock.advance(30)
    assert anomaly_scan() == []  # the same finding, still open: no second anomaly, no second alert
    assert Anomaly.objects.count() == 1 and Alert.objects.get().count == 1

    clock.advance(30)
    request_minute(_minute(1), [105.0] * 3)
    assert anomaly_scan() == []
    anomaly.refresh_from_db()
    assert anomaly.cleared_at is not None
    watched = AnomalySeries.objects.get(series=anomaly.series)
    assert (watched.anomaly, watched.latency_ms) == (False, read_as(105.0))

    clock.advance(60)
    request_minute(_minute(1), [2000.0] * 3)
    (again,) = anomaly_scan()
    assert again.pk != anomaly.pk and Anomaly.objects.filter(cleared_at__isnull=True).get() == again


def test_run_time_per_workflow_is_watched_too(clock):
    for ago in range(11, 0, -1):
        timing_minute("job.run", _minute(ago), [400.0, 420.0], workflow="demo.flow")
        timing_minute("job.run", _minute(ago), [40.0], workflow="http.get")
    assert anomaly_scan() == []
    clock.advance(60)
    timing_minute("job.run", _minute(1), [5000.0], workflow="demo.flow", errors=1)
    timing_minute("job.run", _minute(1), [40.0], workflow="http.get")
    (anomaly,) = anomaly_scan()
    assert anomaly.series == "job.run workflow=demo.flow" and anomaly.value == read_as(5000.0)


def test_the_scan_keeps_its_samples_reads_only_new_minutes_and_takes_late_rollups(clock):
    _steady(11)
    anomaly_scan()
    series = AnomalySeries.objects.get()
    assert len(series.samples) == 11 and series.ready is True
    MetricMinute.objects.all().delete()  # rollups purged: the samples the scan kept still count
    clock.advance(60)
    request_minute(_minute(1), [100.0])
    anomaly_scan()
    series.refresh_from_db()
    assert len(series.samples) == 12 and (series.ready, series.window) == (True, 11)
    # Another process's numbers for that minute land late: the next scan takes them.
    clock.advance(60)
    request_minute(_minute(2), [3000.0] * 50, method="POST")
    (anomaly,) = anomaly_scan()
    series.refresh_from_db()
    assert len(series.samples) == 12 and series.latency_ms == read_as(3000.0) == anomaly.value


def test_the_minute_in_progress_is_not_judged():
    _steady(11)
    request_minute(_minute(0), [9000.0] * 5)  # a partial rollup of the minute now running
    assert anomaly_scan() == []
    assert AnomalySeries.objects.get().latency_ms == read_as(100.0)


def _operator_key(scopes):
    return api_key_for(UserFactory(is_staff=True), scopes=scopes)[1]  # an operator: staff


def test_the_api_gives_each_series_in_the_old_shape(client_for, clock):
    _steady(12)
    timing_minute("job.run", _minute(1), [300.0], workflow="demo.flow")
    clock.advance(60)
    request_minute(_minute(1), [4000.0] * 3)
    anomaly_scan()
    response = client_for(_operator_key([*DEFAULT_SCOPES, "admin:read"])).get("/api/v1/intelligence/anomaly")
    assert response.status_code == 200, response.content
    rows = {row["series"]: row for row in response.json()["series"]}
    assert set(rows) == {"http.request.p95 route=/api/v1/jobs", "job.run workflow=demo.flow"}
    jobs = rows["http.request.p95 route=/api/v1/jobs"]
    assert {key: jobs[key] for key in ("ready", "anomaly", "latency_ms", "method", "samples")} == {
        "ready": True, "anomaly": True, "latency_ms": read_as(4000.0), "method": "zscore", "samples": 12}
    assert jobs["z_score"] > 3
    assert rows["job.run workflow=demo.flow"] == {**rows["job.run workflow=demo.flow"], "ready": False,
                                                  "anomaly": False, "z_score": None, "method": None, "samples": 0}


def test_the_api_needs_admin_read_or_a_staff_session(client_for, operator, client, user):
    assert_api_error(client_for(_operator_key(list(DEFAULT_SCOPES))).get("/api/v1/intelligence/anomaly"),
                     403, "insufficient_scope")
    assert client.get("/api/v1/intelligence/anomaly").status_code == 401
    client.force_login(user)  # signed in, not staff
    assert client.get("/api/v1/intelligence/anomaly").status_code == 403
    assert operator.get("/api/v1/intelligence/anomaly", HTTP_ACCEPT="application/json").json() == {"series": []}


def test_the_api_is_in_the_openapi_schema(client):
    schema = client.get("/public/openapi.json").json()
    operation = schema["paths"]["/api/v1/intelligence/anomaly"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    item = schema["components"]["schemas"][ref]["properties"]["series"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert {"ready", "anomaly", "latency_ms", "z_score", "method"} <= set(schema["components"]["schemas"][item]["properties"])
