"""MetricMinute rows, and the MetricHour rows holding them, as the per-minute rollup writes them, made
in bulk for the dashboard's tests."""

import math
import random
from datetime import UTC, datetime, timedelta

from intelligence.models import MetricHour, MetricMinute
from levqor.histogram import bucket_of, histogram_percentile


def labels_key(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def histogram_of(values_ms) -> dict[str, int]:
    histogram: dict[str, int] = {}
    for value in values_ms:
        key = str(bucket_of(value))
        histogram[key] = histogram.get(key, 0) + 1
    return histogram


def timing_row(minute: datetime, series: str, labels: dict, values_ms, *, errors: int = 0) -> MetricMinute:
    """One minute of a timed series (requests, job runs, waits) from its samples."""
    values_ms = list(values_ms)
    histogram = histogram_of(values_ms)
    return MetricMinute(minute=minute, series=series, labels=labels, labels_key=labels_key(labels),
                        count=len(values_ms), errors=errors, sum_ms=float(sum(values_ms)), histogram=histogram,
                        p50_ms=histogram_percentile(histogram, 50), p95_ms=histogram_percentile(histogram, 95),
                        p99_ms=histogram_percentile(histogram, 99))


def gauge_row(minute: datetime, series: str, labels: dict, value: float) -> MetricMinute:
    return MetricMinute(minute=minute, series=series, labels=labels, labels_key=labels_key(labels), value=value)


def compact_row(minute, series, labels, *, count, errors, histogram) -> MetricMinute:
    """A row built straight from a histogram (fast, for a week of data)."""
    return MetricMinute(minute=minute, series=series, labels=labels, labels_key=labels_key(labels), count=count,
                        errors=errors, sum_ms=float(sum(int(n) * 1.1 ** int(k) / 10 for k, n in histogram.items())),
                        histogram=histogram, p50_ms=histogram_percentile(histogram, 50),
                        p95_ms=histogram_percentile(histogram, 95), p99_ms=histogram_percentile(histogram, 99))


ROUTES = [("/api/v1/intake", "POST"), ("/api/v1/jobs", "POST"), ("/api/v1/jobs/<id>", "GET"),
          ("/api/v1/status/<id>", "GET"), ("/api/v1/workflows", "GET")]
WORKFLOWS = ["demo.flow", "http.request"]


def week_of_rollups(end: datetime, *, minutes: int = 7 * 24 * 60, seed: int = 7) -> list[MetricMinute]:
    """Ten series for `minutes` minutes before `end`: five routes' requests, two workflows' runs
    and waits, and the queue depth; each timed minute's histogram has ~20 buckets, as a busy
    minute's has. Returns the rows unsaved (bulk_create them)."""
    rnd = random.Random(seed)
    shapes = []
    for base in (12, 25, 40, 80, 150, 300):
        samples = [base * math.exp(rnd.gauss(0, 0.45)) for _ in range(120)]
        shapes.append(histogram_of(samples))
    rows = []
    start = end - timedelta(minutes=minutes)
    for m in range(minutes):
        minute = start + timedelta(minutes=m)
        for r, (route, method) in enumerate(ROUTES):
            histogram = shapes[(m + r) % len(shapes)]
            rows.append(compact_row(minute, "http.request", {"route": route, "method": method, "status_class": "2xx"},
                                    count=120, errors=(m + r) % 7 == 0, histogram=histogram))
        for w, workflow in enumerate(WORKFLOWS):
            rows.append(compact_row(minute, "job.run", {"workflow": workflow}, count=120, errors=(m + w) % 5 == 0,
                                    histogram=shapes[(m + w + 2) % len(shapes)]))
            rows.append(compact_row(minute, "job.wait", {"workflow": workflow}, count=120, errors=0,
                                    histogram=shapes[(m + w + 1) % len(shapes)]))
        rows.append(gauge_row(minute, "queue.depth", {}, float(m % 40)))
    return rows


def hours_of(rows) -> list[MetricHour]:
    """The MetricHour rows the rollup keeps beside these minutes: each hour's rows of a series and
    label set added up (histograms merged), a gauge's peak. Unsaved."""
    hours: dict[tuple, MetricHour] = {}
    for row in rows:
        hour = row.minute.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        key = (hour, row.series, row.labels_key)
        into = hours.get(key)
        if into is None:
            into = hours[key] = MetricHour(hour=hour, series=row.series, labels=row.labels, labels_key=row.labels_key,
                                           histogram={})
        into.count += row.count
        into.errors += row.errors
        into.sum_ms += row.sum_ms
        for bucket, n in row.histogram.items():
            into.histogram[str(bucket)] = into.histogram.get(str(bucket), 0) + int(n)
        if row.value is not None:
            into.value = row.value if into.value is None else max(into.value, row.value)
    for into in hours.values():
        into.p50_ms, into.p95_ms, into.p99_ms = (histogram_percentile(into.histogram, q) for q in (50, 95, 99))
    return list(hours.values())


def rollups_save(rows) -> list[MetricMinute]:
    """Save minutes and their hours, as the rollup does in one transaction."""
    rows = list(rows)
    MetricMinute.objects.bulk_create(rows, batch_size=2000)
    MetricHour.objects.bulk_create(hours_of(rows), batch_size=2000)
    return rows
