"""MetricMinute rows as the per-minute rollup writes them, for tests of what reads them."""

from datetime import datetime

from intelligence.models import MetricMinute
from levqor.histogram import bucket_of, bucket_upper_ms, histogram_percentile


def read_as(value_ms: float) -> float:
    """What a single reading of value_ms reads as from a histogram (its bucket's upper bound)."""
    return round(bucket_upper_ms(bucket_of(value_ms)), 3)


def timing_minute(series: str, minute: datetime, values_ms, *, errors: int = 0, **labels) -> MetricMinute:
    """One minute of a timing series ("http.request", "job.run") with these readings."""
    histogram: dict[str, int] = {}
    for value in values_ms:
        histogram[str(bucket_of(value))] = histogram.get(str(bucket_of(value)), 0) + 1
    return MetricMinute.objects.create(
        minute=minute, series=series, labels=labels, labels_key=",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        count=len(values_ms), errors=errors, sum_ms=sum(values_ms), histogram=histogram,
        p50_ms=histogram_percentile(histogram, 50), p95_ms=histogram_percentile(histogram, 95),
        p99_ms=histogram_percentile(histogram, 99))


def request_minute(minute: datetime, values_ms, *, route="/api/v1/jobs", method="GET", status_class="2xx",
                   errors: int = 0) -> MetricMinute:
    return timing_minute("http.request", minute, values_ms, errors=errors, route=route, method=method,
                         status_class=status_class)


def gauge_minute(series: str, minute: datetime, value: float, **labels) -> MetricMinute:
    return MetricMinute.objects.create(minute=minute, series=series, labels=labels,
                                       labels_key=",".join(f"{k}={v}" for k, v in sorted(labels.items())), value=value)
