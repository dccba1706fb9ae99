"""Quarter-hour and hour spans of the rollups (intelligence.services.metric_spans): they add up
exactly as their minutes do, follow minutes that are written late, pick up after downtime, and
are kept no longer than the dashboard needs them."""

from datetime import UTC, datetime, timedelta

import pytest

from intelligence.models import MetricMinute, MetricSpan
from intelligence.services.metric_spans import KEEP, metric_spans_compact, span_start
from levqor.histogram import histogram_merge, histogram_percentile
from tests.intelligence.metrics_data import gauge_row, timing_row

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 26, 12, 7, 30, tzinfo=UTC)
INTAKE = {"route": "/api/v1/intake", "method": "POST", "status_class": "2xx"}


def _minutes(start: datetime, count: int, *, labels=INTAKE, base=20.0):
    rows = [timing_row(start + timedelta(minutes=m), "http.request", labels,
                       [base + m, base * 2 + m, base * 10 + 3 * m], errors=m % 2) for m in range(count)]
    MetricMinute.objects.bulk_create(rows)
    return rows


def test_span_start_is_aligned_on_midnight_utc():
    assert span_start(datetime(2026, 11, 26, 12, 29, 59, tzinfo=UTC), 15) == datetime(2026, 11, 26, 12, 15, tzinfo=UTC)
    assert span_start(datetime(2026, 11, 26, 12, 59, tzinfo=UTC), 60) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_span_adds_up_its_minutes_exactly():
    rows = _minutes(datetime(2026, 11, 26, 11, 0, tzinfo=UTC), 60)
    MetricMinute.objects.bulk_create([gauge_row(datetime(2026, 11, 26, 11, m, tzinfo=UTC), "queue.depth", {}, float(m))
                                      for m in range(15)])
    done = metric_spans_compact(now=NOW)
    assert done[15]["spans"] == 4 and done[60]["spans"] == 1

    quarter = MetricSpan.objects.get(minutes=15, start=datetime(2026, 11, 26, 11, 15, tzinfo=UTC), series="http.request")
    its = rows[15:30]
    assert (quarter.rows, quarter.count, quarter.errors) == (15, sum(r.count for r in its), sum(r.errors for r in its))
    assert quarter.sum_ms == pytest.approx(sum(r.sum_ms for r in its))
    assert histogram_merge([quarter.histogram]) == histogram_merge(r.histogram for r in its)
    assert quarter.labels == INTAKE
    hour = MetricSpan.objects.get(minutes=60, series="http.request")
    assert histogram_percentile(hour.histogram, 99) == histogram_percentile(histogram_merge(r.histogram for r in rows), 99)
    depth = MetricSpan.objects.get(minutes=15, series="queue.depth")
    assert (depth.value, depth.value_max, depth.rows) == (7.0, 14.0, 15)


def test_only_settled_spans_are_written_and_a_second_run_writes_nothing_new():
    _minutes(datetime(2026, 11, 26, 11, 50, tzinfo=UTC), 17)  # 11:50 .. 12:06
    metric_spans_compact(now=NOW)
    # 12:00-12:15 is not over; 11:45-12:00 is (it ended 7.5 minutes ago, past the rollup's lag).
    assert list(MetricSpan.objects.filter(minutes=15).values_list("start", flat=True)) == [
        datetime(2026, 11, 26, 11, 45, tzinfo=UTC)]
    assert list(MetricSpan.objects.filter(minutes=60).values_list("start", flat=True)) == [
        datetime(2026, 11, 26, 11, 0, tzinfo=UTC)]
    again = metric_spans_compact(now=NOW)
    assert again[15]["spans"] == 0 and again[60]["spans"] == 0


def test_a_minute_written_late_rewrites_its_span():
    _minutes(datetime(2026, 11, 26, 11, 0, tzinfo=UTC), 30)
    metric_spans_compact(now=NOW)
    quarter = MetricSpan.objects.get(minutes=15, start=datetime(2026, 11, 26, 11, 15, tzinfo=UTC))
    # A rollup that ran late adds a new label set and more requests to a minute already rolled up.
    MetricMinute.objects.filter(minute=datetime(2026, 11, 26, 11, 20, tzinfo=UTC)).update(count=50)
    late = timing_row(datetime(2026, 11, 26, 11, 21, tzinfo=UTC), "http.request", {"route": "/api/v1/jobs"}, [5.0])
    late.save()
    done = metric_spans_compact(now=NOW + timedelta(minutes=5))
    assert done[15]["spans"] == 1
    refreshed = MetricSpan.objects.get(pk=quarter.pk)
    assert refreshed.count == quarter.count + 50 - 3
    assert MetricSpan.objects.filter(minutes=15, start=quarter.start).count() == 2  # the new label set too


def test_a_label_set_whose_minutes_are_gone_loses_its_span():
    _minutes(datetime(2026, 11, 26, 11, 0, tzinfo=UTC), 15)
    _minutes(datetime(2026, 11, 26, 11, 0, tzinfo=UTC), 15, labels={"route": "/api/v1/jobs"})
    metric_spans_compact(now=NOW)
    assert MetricSpan.objects.filter(minutes=15).count() == 2
    MetricMinute.objects.filter(labels_key="route=/api/v1/jobs").delete()
    metric_spans_compact(now=NOW)
    assert list(MetricSpan.objects.filter(minutes=15).values_list("labels_key", flat=True)) == [
        "method=POST,route=/api/v1/intake,status_class=2xx"]


def test_after_downtime_it_picks_up_from_its_newest_span_and_drops_what_is_past_keeping():
    noon = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    _minutes(noon - timedelta(days=12), 30)  # older than KEEP at every run below: never written
    _minutes(noon - timedelta(days=3), 30)
    metric_spans_compact(now=noon - timedelta(days=3) + timedelta(hours=1))
    assert MetricSpan.objects.filter(minutes=15).count() == 2
    # More than RECHECK without a run: what was rolled up meanwhile is still picked up.
    _minutes(noon - timedelta(hours=30), 15)
    done = metric_spans_compact(now=NOW)
    assert done[15]["spans"] == 1
    assert MetricSpan.objects.filter(minutes=15).count() == 3
    done = metric_spans_compact(now=noon + KEEP - timedelta(days=2))
    assert done[15]["rows_deleted"] == 2  # the two quarters of 3 days before noon are past KEEP now
    assert MetricSpan.objects.filter(minutes=15).count() == 1
