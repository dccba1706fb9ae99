"""Reads of the rolled-up metrics: a window's summary (counts, error rate, percentiles from the merged
histograms, within 10 %), chart points per label and step with empty steps filled, a gauge's exact
percentiles; each in a fixed number of queries whatever the window's length."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction

from intelligence.models import MetricHour, MetricMinute
from intelligence.selectors.metrics import metrics_by_minute, metrics_gauge_window, metrics_window
from intelligence.services.metrics import metric_minutes_add
from levqor.histogram import bucket_of
from levqor.metrics import HTTP_REQUEST, QUEUE_DEPTH, MetricGroup, labels_key_of
from tests.metrics_support import exact_percentile

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INTAKE = {"route": "/api/v1/intake", "method": "POST", "status_class": "2xx"}
JOBS = {"route": "/api/v1/jobs", "method": "GET", "status_class": "2xx"}


def _add(minute: datetime, labels: dict, values: list[float], *, errors: int = 0, series: str = HTTP_REQUEST):
    histogram: dict[int, int] = {}
    for ms in values:
        histogram[bucket_of(ms)] = histogram.get(bucket_of(ms), 0) + 1
    with transaction.atomic():
        metric_minutes_add([MetricGroup(int(minute.timestamp()), series, labels_key_of(labels), labels, len(values),
                                        errors, sum(values), histogram, None)])


def _values(n: int, seed: int, scale: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.lognormvariate(2.5, 0.9) * scale, 3) for _ in range(n)]


def _assert_close(got, exact):
    assert exact <= got <= exact * 1.1 + 0.001, (got, exact)


@pytest.fixture
def three_minutes():
    """Two routes over three minutes (the jobs list twice as slow), plus a minute on either side."""
    everything = {"intake": [], "jobs": []}
    for i in range(3):
        intake, jobs = _values(200, seed=i), _values(100, seed=10 + i, scale=2.0)
        _add(T0 + timedelta(minutes=i), INTAKE, intake, errors=i)
        _add(T0 + timedelta(minutes=i), JOBS, jobs, errors=1)
        everything["intake"] += intake
        everything["jobs"] += jobs
    _add(T0 - timedelta(minutes=1), INTAKE, [1.0] * 50)  # before the window
    _add(T0 + timedelta(minutes=3), INTAKE, [1.0] * 50)  # at its end: outside, as until is excluded
    return everything


def test_a_window_adds_every_label_set_and_reads_percentiles_from_the_merged_histogram(
        three_minutes, django_assert_num_queries):
    with django_assert_num_queries(2):
        summary = metrics_window(HTTP_REQUEST, since=T0, until=T0 + timedelta(minutes=3))
    values = three_minutes["intake"] + three_minutes["jobs"]
    assert (summary.count, summary.errors) == (900, 3 + 3)
    assert summary.error_rate == pytest.approx(6 / 900)
    assert summary.avg_ms == pytest.approx(sum(values) / 900)
    _assert_close(summary.p50_ms, exact_percentile(values, 50))
    _assert_close(summary.p95_ms, exact_percentile(values, 95))
    _assert_close(summary.p99_ms, exact_percentile(values, 99))
    assert sum(summary.histogram.values()) == 900


def test_a_window_of_one_route(three_minutes, django_assert_num_queries):
    with django_assert_num_queries(2):
        summary = metrics_window(HTTP_REQUEST, since=T0, until=T0 + timedelta(minutes=3),
                                 labels={"route": "/api/v1/jobs"})
    assert (summary.count, summary.errors) == (300, 3)
    _assert_close(summary.p95_ms, exact_percentile(three_minutes["jobs"], 95))


def test_an_empty_window_says_so():
    summary = metrics_window(HTTP_REQUEST, since=T0, until=T0 + timedelta(hours=1))
    assert (summary.count, summary.errors, summary.error_rate, summary.p95_ms, summary.avg_ms) == (0, 0, None, None,
                                                                                                  None)


def test_chart_points_per_route_and_minute_with_empty_minutes_filled(three_minutes, django_assert_num_queries):
    with django_assert_num_queries(2):
        lines = metrics_by_minute(HTTP_REQUEST, since=T0 - timedelta(minutes=2), until=T0 + timedelta(minutes=3),
                                  group_by_label="route")
    assert set(lines) == {"/api/v1/intake", "/api/v1/jobs"}
    intake = lines["/api/v1/intake"]
    assert [p.at for p in intake] == [T0 + timedelta(minutes=i) for i in range(-2, 3)]
    assert [p.count for p in intake] == [0, 50, 200, 200, 200]
    assert [p.errors for p in intake] == [0, 0, 0, 1, 2]
    assert intake[0].p95_ms is None and intake[0].error_rate is None
    _assert_close(intake[2].p95_ms, exact_percentile(_values(200, seed=0), 95))
    assert [p.count for p in lines["/api/v1/jobs"]] == [0, 0, 100, 100, 100]


def test_chart_points_in_steps_of_several_minutes(three_minutes, django_assert_num_queries):
    with django_assert_num_queries(2):
        [line] = metrics_by_minute(HTTP_REQUEST, since=T0, until=T0 + timedelta(minutes=4), step_minutes=2,
                                   labels={"route": "/api/v1/intake"}).values()
    assert [(p.at, p.count) for p in line] == [(T0, 400), (T0 + timedelta(minutes=2), 250)]
    _assert_close(line[0].p99_ms, exact_percentile(three_minutes["intake"][:400], 99))


def _day_of_minutes():
    """24 hours of two routes, every minute 10 requests (9 at 12 ms, one at 250 ms), every other one failed."""
    histogram = {bucket_of(12.0): 9, bucket_of(250.0): 1}
    for hour in range(24):
        with transaction.atomic():
            metric_minutes_add([
                MetricGroup(int((T0 + timedelta(minutes=i)).timestamp()), HTTP_REQUEST, labels_key_of(labels), labels,
                            10, i % 2, 358.0, histogram, None)
                for i in range(hour * 60, hour * 60 + 60) for labels in (INTAKE, JOBS)])


def test_a_day_of_minutes_costs_the_same_two_queries(django_assert_num_queries):
    _day_of_minutes()
    with django_assert_num_queries(2):
        summary = metrics_window(HTTP_REQUEST, since=T0, until=T0 + timedelta(days=1))
    assert (summary.count, summary.errors) == (28_800, 1440)
    _assert_close(summary.p50_ms, 12.0)
    _assert_close(summary.p95_ms, 250.0)
    with django_assert_num_queries(2):
        lines = metrics_by_minute(HTTP_REQUEST, since=T0, until=T0 + timedelta(days=1), step_minutes=60,
                                  group_by_label="route")
    assert {route: len(points) for route, points in lines.items()} == {"/api/v1/intake": 24, "/api/v1/jobs": 24}
    assert all(p.count == 600 and p.errors == 30 for points in lines.values() for p in points)


def test_whole_hours_are_read_from_the_hourly_rows_and_the_edges_from_the_minutes(django_assert_num_queries):
    _day_of_minutes()
    since, until = T0 + timedelta(minutes=50), T0 + timedelta(hours=5, minutes=5)  # 10 + 4 h + 5 minutes
    expected = metrics_window(HTTP_REQUEST, since=since, until=until)
    assert expected.count == (10 + 240 + 5) * 20
    # The minutes of the whole hours are gone: what is still counted comes from the hours.
    MetricMinute.objects.filter(minute__gte=T0 + timedelta(hours=1), minute__lt=T0 + timedelta(hours=5)).delete()
    with django_assert_num_queries(2):
        summary = metrics_window(HTTP_REQUEST, since=since, until=until)
    assert summary == expected
    hourly = MetricHour.objects.get(hour=T0 + timedelta(hours=2), labels_key=labels_key_of(INTAKE))
    assert (hourly.count, hourly.errors, hourly.sum_ms) == (600, 30, 60 * 358.0)
    _assert_close(hourly.p95_ms, 250.0)
    # Steps of minutes read minutes only.
    [line] = metrics_by_minute(HTTP_REQUEST, since=since, until=until, step_minutes=30).values()
    assert sum(p.count for p in line) == (10 + 5) * 20


def test_a_gauge_window_reads_exact_percentiles_in_one_query(django_assert_num_queries):
    depths = [0, 0, 1, 3, 2, 40, 5, 0, 7, 9]
    for i, depth in enumerate(depths):
        with transaction.atomic():
            metric_minutes_add([MetricGroup(int((T0 + timedelta(minutes=i)).timestamp()), QUEUE_DEPTH, "", {}, 0, 0,
                                            0.0, {}, float(depth))])
    with django_assert_num_queries(1):
        gauge = metrics_gauge_window(QUEUE_DEPTH, since=T0, until=T0 + timedelta(minutes=10))
    assert (gauge.readings, gauge.last, gauge.min, gauge.max) == (10, 9.0, 0.0, 40.0)
    assert (gauge.p50, gauge.p95, gauge.avg) == (2.0, 40.0, pytest.approx(6.7))
    lines = metrics_by_minute(QUEUE_DEPTH, since=T0, until=T0 + timedelta(minutes=10), step_minutes=5)
    assert [p.value for p in lines[None]] == [3.0, 40.0]


def test_label_names_must_be_identifiers():
    with pytest.raises(ValueError):
        metrics_window(HTTP_REQUEST, since=T0, until=T0 + timedelta(minutes=1), labels={"route') OR 1=1 --": "x"})
    with pytest.raises(ValueError):
        metrics_by_minute(HTTP_REQUEST, since=T0, until=T0 + timedelta(minutes=1), group_by_label="a.b")
