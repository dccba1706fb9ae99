"""Quarter-hour and hour spans of the per-minute rollups, for the operations dashboard.

A week of rollups is ~100,000 MetricMinute rows; merging their histograms on each view takes
seconds (measured on SQLite: 0.6-2.5 s for the request series alone, in SQL with json_each or in
Python). The dashboard's day and week views read MetricSpan rows instead: each is a quarter hour
(or an hour) of one series and label set, added up from its minutes exactly as the minutes add up
(histograms merged), so percentiles read from spans equal those read from the minutes.

metric_spans_compact() runs every 5 minutes (schedule "intelligence.dashboard_compact"). For each
length it writes the spans that have settled (ended SETTLE ago, past the rollup's lag), and on
each run compares the last RECHECK of spans with their minutes (rows, counts and errors per series
and label set), rewriting any that changed since (a rollup that wrote late). After downtime it
picks up from its newest span, as far back as KEEP. The dashboard reads minutes for whatever is
newer than the newest span, so it is current whether or not this has run."""

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from intelligence.models import MetricMinute, MetricSpan
from intelligence.models.spans import SPAN_LENGTHS

SETTLE = timedelta(minutes=2)
RECHECK = timedelta(hours=24)
KEEP = timedelta(days=8)  # the dashboard shows at most 7 days
BATCH = timedelta(days=1)  # minutes read at a time when (re)writing spans

_MINUTE_FIELDS = ("minute", "series", "labels_key", "labels", "count", "errors", "sum_ms", "histogram", "value")


def span_start(moment: datetime, minutes: int) -> datetime:
    """The start of the span of this length that holds `moment` (spans are aligned on midnight UTC)."""
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment - timedelta(minutes=(moment.hour * 60 + moment.minute) % minutes)


def metric_spans_compact(*, now: datetime | None = None) -> dict:
    """Write (or rewrite) the settled spans whose minutes changed or were never added up, and
    delete spans older than KEEP. Returns what it did, per length."""
    now = now or timezone.now()
    done = {}
    for minutes in SPAN_LENGTHS:
        length = timedelta(minutes=minutes)
        settled_end = span_start(now - SETTLE, minutes)  # every span starting before it ended SETTLE ago
        oldest = span_start(now - KEEP, minutes)
        spans = MetricSpan.objects.filter(minutes=minutes)
        newest = spans.aggregate(newest=Max("start"))["newest"]
        check_from = oldest if newest is None else max(oldest, min(span_start(now - RECHECK, minutes), newest + length))
        stale = _stale_spans(minutes, check_from, settled_end)
        written = 0
        batch: list[datetime] = []
        for start in stale:
            if batch and start - batch[0] >= BATCH:
                written += _compact(minutes, batch)
                batch = []
            batch.append(start)
        if batch:
            written += _compact(minutes, batch)
        deleted, _ = spans.filter(start__lt=oldest).delete()
        done[minutes] = {"spans": len(stale), "rows_written": written, "rows_deleted": deleted}
    return done


def _stale_spans(minutes: int, start: datetime, end: datetime) -> list[datetime]:
    """Starts of the spans in [start, end) whose rows differ from their minutes (rows, count,
    errors per series and label set), or that have minutes and no rows."""
    if start >= end:
        return []
    from_minutes: dict[datetime, dict] = defaultdict(dict)
    rows = MetricMinute.objects.filter(minute__gte=start, minute__lt=end).values_list(
        "minute", "series", "labels_key", "count", "errors")
    for minute, series, labels_key, count, errors in rows.iterator(chunk_size=5000):
        span = from_minutes[span_start(minute, minutes)]
        seen = span.get((series, labels_key), (0, 0, 0))
        span[(series, labels_key)] = (seen[0] + 1, seen[1] + count, seen[2] + errors)
    from_spans: dict[datetime, dict] = defaultdict(dict)
    spans = MetricSpan.objects.filter(minutes=minutes, start__gte=start, start__lt=end).values_list(
        "start", "series", "labels_key", "rows", "count", "errors")
    for span_start_, series, labels_key, rows_, count, errors in spans:
        from_spans[span_start_][(series, labels_key)] = (rows_, count, errors)
    return sorted(s for s in set(from_minutes) | set(from_spans) if from_minutes.get(s, {}) != from_spans.get(s, {}))


def _compact(minutes: int, starts: list[datetime]) -> int:
    """Rewrite the spans with these starts from their minutes, in one transaction."""
    wanted = set(starts)
    merged: dict[tuple, dict] = {}
    rows = MetricMinute.objects.filter(
        minute__gte=starts[0], minute__lt=starts[-1] + timedelta(minutes=minutes)).values_list(*_MINUTE_FIELDS)
    for minute, series, labels_key, labels, count, errors, sum_ms, histogram, value in rows.iterator(chunk_size=2000):
        start = span_start(minute, minutes)
        if start not in wanted:
            continue
        span = merged.get((start, series, labels_key))
        if span is None:
            span = merged[(start, series, labels_key)] = {
                "labels": labels, "rows": 0, "count": 0, "errors": 0, "sum_ms": 0.0, "histogram": {},
                "value_sum": 0.0, "values": 0, "value_max": None}
        span["rows"] += 1
        span["count"] += count
        span["errors"] += errors
        span["sum_ms"] += sum_ms
        merged_histogram = span["histogram"]
        for index, n in histogram.items():
            merged_histogram[index] = merged_histogram.get(index, 0) + n
        if value is not None:
            span["value_sum"] += value
            span["values"] += 1
            span["value_max"] = value if span["value_max"] is None else max(span["value_max"], value)
    spans = [
        MetricSpan(minutes=minutes, start=start, series=series, labels_key=labels_key, labels=span["labels"],
                   rows=span["rows"], count=span["count"], errors=span["errors"], sum_ms=span["sum_ms"],
                   histogram=dict(sorted(span["histogram"].items(), key=lambda kv: int(kv[0]))),
                   value=span["value_sum"] / span["values"] if span["values"] else None, value_max=span["value_max"])
        for (start, series, labels_key), span in merged.items()]
    with transaction.atomic():
        # Upsert, then drop the rows of label sets that no longer have minutes in their span.
        MetricSpan.objects.bulk_create(
            spans, batch_size=500, update_conflicts=True, unique_fields=["minutes", "start", "series", "labels_key"],
            update_fields=["labels", "rows", "count", "errors", "sum_ms", "histogram", "value", "value_max"])
        keep = {(s.start, s.series, s.labels_key) for s in spans}
        gone = [pk for pk, *key in MetricSpan.objects.filter(minutes=minutes, start__in=starts).values_list(
            "pk", "start", "series", "labels_key") if tuple(key) not in keep]
        if gone:
            MetricSpan.objects.filter(pk__in=gone).delete()
    return len(spans)
