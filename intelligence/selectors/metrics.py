"""Reads of the live metrics (MetricMinute rows, and MetricHour rows for the whole hours of a long
window) for anomalies, SLOs, auto-tune and the operations page. Each call is one or two queries
whatever the window: counts and sums are added in SQL, and histograms are merged in SQL too
(json_each / jsonb_each_text), so a week comes back as a few rows per step and bucket.
Percentiles are read from the merged histogram (levqor.histogram: within 10 % of the truth).

Windows are [since, until): minutes starting at or after `since` and before `until`. `labels`
filters on label values ({"route": "/api/v1/intake"}); series names are in levqor.metrics."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import BigIntegerField, BooleanField, CharField, Func, IntegerField, Q, QuerySet, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from intelligence.models import MetricHour, MetricMinute
from levqor.histogram import histogram_percentile


@dataclass(frozen=True)
class MetricSummary:
    """A series over a window: how many, how many errors, and how long (timings)."""

    count: int
    errors: int
    error_rate: float | None  # errors / count; None when nothing was counted
    sum_ms: float
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    histogram: dict[int, int]  # merged, {bucket: count}
    value_max: float | None  # gauges: the highest reading


@dataclass(frozen=True)
class MetricPoint:
    """One step of a chart (a minute, or step_minutes of them)."""

    at: datetime  # the step's first minute, UTC
    count: int
    errors: int
    error_rate: float | None
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    value: float | None  # gauges: the highest reading in the step


@dataclass(frozen=True)
class GaugeSummary:
    """A gauge's readings over a window (one per minute), percentiles exact."""

    readings: int
    last: float | None
    min: float | None
    max: float | None
    avg: float | None
    p50: float | None
    p95: float | None
    p99: float | None


class _StepStart(Func):
    """The epoch second at which the step of `step_seconds` holding a minute starts."""

    output_field = BigIntegerField()

    def __init__(self, expression, step_seconds: int):
        super().__init__(expression)
        self.step_seconds = int(step_seconds)

    def as_sqlite(self, compiler, conn, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"((CAST(strftime('%%s', {sql}) AS INTEGER) / %s) * %s)", [*params, self.step_seconds,
                                                                          self.step_seconds]

    def as_postgresql(self, compiler, conn, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (f"((FLOOR(EXTRACT(EPOCH FROM {sql}))::bigint / %s) * %s)",
                [*params, self.step_seconds, self.step_seconds])


# Public for other readers that group rows by step (the autoscale history).
StepStart = _StepStart

HOUR = 3600


def _labelled(rows: QuerySet, labels: Mapping | None) -> QuerySet:
    for name, value in (labels or {}).items():
        if not str(name).isidentifier():
            raise ValueError(f"label names are identifiers, not {name!r}")
        rows = rows.filter(**{f"labels__{name}": str(value)})
    return rows


def _window(series: str, since: datetime, until: datetime, labels: Mapping | None) -> QuerySet:
    return _labelled(MetricMinute.objects.filter(series=series, minute__gte=since, minute__lt=until), labels)


def _whole_hours(since: datetime, until: datetime, step_seconds: int | None) -> tuple[datetime, datetime] | None:
    """[first, end) of the whole hours inside [since, until), read from MetricHour rows, when steps
    are whole hours (or there are none) and there is such an hour; None otherwise."""
    first_hour = math.ceil(since.timestamp() / HOUR) * HOUR
    end_hour = int(until.timestamp()) // HOUR * HOUR
    if first_hour < end_hour and (step_seconds is None or step_seconds % HOUR == 0):
        return datetime.fromtimestamp(first_hour, UTC), datetime.fromtimestamp(end_hour, UTC)
    return None


def _parts(series: str, since: datetime, until: datetime, labels: Mapping | None, *, step_seconds: int | None,
           group_by_label: str | None) -> list[QuerySet]:
    """The rows a window reads, each with its step and group: MetricHour rows for the whole hours
    inside it (when steps are whole hours, or there are none), MetricMinute rows for the rest."""
    if group_by_label is not None and not group_by_label.isidentifier():
        raise ValueError(f"label names are identifiers, not {group_by_label!r}")
    hours = _whole_hours(since, until, step_seconds)

    def keyed(rows: QuerySet, at: str) -> QuerySet:
        return rows.order_by().annotate(
            step=_StepStart(at, step_seconds) if step_seconds else Value(0, output_field=IntegerField()),
            grp=KT(f"labels__{group_by_label}") if group_by_label else Value(None, output_field=CharField()),
        ).values("step", "grp", "count", "errors", "sum_ms", "value", "histogram")

    if hours is None:
        return [keyed(_window(series, since, until, labels), "minute")]
    first, end = hours
    edges = MetricMinute.objects.filter(Q(minute__gte=since, minute__lt=first) | Q(minute__gte=end, minute__lt=until),
                                        series=series)
    hours = MetricHour.objects.filter(series=series, hour__gte=first, hour__lt=end)
    return [keyed(_labelled(edges, labels), "minute"), keyed(_labelled(hours, labels), "hour")]


def _grouped(parts: list[QuerySet]) -> dict[tuple, dict]:
    """{(step start or 0, label value or None): {count, errors, sum_ms, value, histogram}}: sums in
    one query, histograms merged by the database in a second."""
    compiled = [part.query.sql_with_params() for part in parts]
    rows_sql = " UNION ALL ".join(sql for sql, _ in compiled)
    params = [p for _, part_params in compiled for p in part_params]
    out: dict[tuple, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT s.step, s.grp, SUM(s."count"), SUM(s."errors"), SUM(s."sum_ms"), MAX(s."value") '  # noqa: S608
                       f"FROM ({rows_sql}) s GROUP BY s.step, s.grp", params)  # (our own queries)
        for step, grp, count, errors, sum_ms, value in cursor.fetchall():
            out[(int(step), grp)] = {"count": int(count or 0), "errors": int(errors or 0),
                                     "sum_ms": float(sum_ms or 0), "value": value, "histogram": {}}
        for step, grp, bucket, n in _histogram_buckets(cursor, rows_sql, params, parts):
            figures = out.get((int(step), grp))
            if figures is not None:
                figures["histogram"][int(bucket)] = int(n)
    return out


def _histogram_buckets(cursor, rows_sql: str, params: list, parts: list[QuerySet]) -> list[tuple]:
    """(step, group, bucket, count) with every row's histogram added up, by the database."""
    if connection.vendor == "postgresql":
        cursor.execute(f"SELECT s.step, s.grp, h.key, SUM(h.value::bigint) FROM ({rows_sql}) s "  # noqa: S608
                       "CROSS JOIN LATERAL jsonb_each_text(s.histogram) h GROUP BY 1, 2, 3", params)
        return cursor.fetchall()
    if connection.vendor == "sqlite":
        cursor.execute(f"SELECT s.step, s.grp, h.key, SUM(h.value) FROM ({rows_sql}) s, json_each(s.histogram) h "  # noqa: S608
                       "GROUP BY 1, 2, 3", params)
        return cursor.fetchall()
    totals: dict[tuple, int] = {}  # another database: add them up here
    for part in parts:
        for row in part:
            for bucket, n in (row["histogram"] or {}).items():
                key = (row["step"], row["grp"], bucket)
                totals[key] = totals.get(key, 0) + int(n)
    return [(*key, n) for key, n in totals.items()]


def _rate(errors: int, count: int) -> float | None:
    return errors / count if count else None


def metrics_window(series: str, *, since: datetime, until: datetime, labels: Mapping | None = None) -> MetricSummary:
    """A series over [since, until), every label set (or those matching `labels`) together. Two queries."""
    figures = _grouped(_parts(series, since, until, labels, step_seconds=None, group_by_label=None)).get(
        (0, None), {"count": 0, "errors": 0, "sum_ms": 0.0, "value": None, "histogram": {}})
    count, histogram = figures["count"], figures["histogram"]
    return MetricSummary(
        count=count, errors=figures["errors"], error_rate=_rate(figures["errors"], count), sum_ms=figures["sum_ms"],
        avg_ms=figures["sum_ms"] / count if count else None, p50_ms=histogram_percentile(histogram, 50),
        p95_ms=histogram_percentile(histogram, 95), p99_ms=histogram_percentile(histogram, 99), histogram=histogram,
        value_max=figures["value"])


def metrics_by_minute(series: str, *, since: datetime, until: datetime, group_by_label: str | None = None,
                      labels: Mapping | None = None, step_minutes: int = 1,
                      fill: bool = True) -> dict[str | None, list[MetricPoint]]:
    """A chart's points: per value of `group_by_label` (or one line, keyed None), one point per step of
    `step_minutes` from since to until, oldest first. With `fill`, steps without data are points with
    count 0 (and no percentiles), so every line has the same steps. Two queries."""
    step = max(1, int(step_minutes)) * 60
    grouped = _grouped(_parts(series, since, until, labels, step_seconds=step, group_by_label=group_by_label))
    lines: dict[str | None, dict[int, dict]] = {}
    for (start, grp), figures in grouped.items():
        lines.setdefault(grp, {})[int(start)] = figures
    first = int(since.timestamp()) // step * step
    steps = range(first, math.ceil(until.timestamp() / step) * step, step)
    out = {}
    for grp, by_step in lines.items():
        points = []
        for start in steps if fill else sorted(by_step):
            f = by_step.get(start)
            if f is None:
                points.append(MetricPoint(datetime.fromtimestamp(start, UTC), 0, 0, None, None, None, None, None, None))
                continue
            h = f["histogram"]
            points.append(MetricPoint(
                datetime.fromtimestamp(start, UTC), f["count"], f["errors"], _rate(f["errors"], f["count"]),
                f["sum_ms"] / f["count"] if f["count"] else None, histogram_percentile(h, 50),
                histogram_percentile(h, 95), histogram_percentile(h, 99), f["value"]))
        out[grp] = points
    return out


def metrics_rows(series: Sequence[str], *, since: datetime, until: datetime, step_minutes: int = 1,
                 minutes_only: Sequence[str] = ()) -> list[tuple]:
    """Every row of `series` in [since, until), for a reader that adds many series up at once (the
    operations page): MetricHour rows for the whole hours inside the window when steps are whole
    hours, MetricMinute rows for the rest; `minutes_only` series (gauges whose average is wanted:
    an hour keeps only its peak) from the minutes throughout. Each row is (at, series, labels_key,
    labels as JSON text, count, errors, sum_ms, histogram, value, is_hour). One query."""
    fields = ("series", "labels_key", "labels_text", "count", "errors", "sum_ms", "histogram", "value")
    hours = _whole_hours(since, until, step_minutes * 60)
    in_window = Q(minute__gte=since, minute__lt=until)
    if hours is None:
        wanted = Q(series__in=[*series, *minutes_only]) & in_window
    else:
        first, end = hours
        edges = Q(minute__gte=since, minute__lt=first) | Q(minute__gte=end, minute__lt=until)
        wanted = Q(series__in=series) & edges | Q(series__in=minutes_only) & in_window
    rows = (MetricMinute.objects.filter(wanted).order_by()
            .annotate(labels_text=Cast("labels", TextField()), is_hour=Value(False, output_field=BooleanField()))
            .values_list("minute", *fields, "is_hour"))
    if hours is not None:
        rows = rows.union(
            MetricHour.objects.filter(series__in=series, hour__gte=hours[0], hour__lt=hours[1]).order_by()
            .annotate(labels_text=Cast("labels", TextField()), is_hour=Value(True, output_field=BooleanField()))
            .values_list("hour", *fields, "is_hour"), all=True)
    return list(rows)


def _exact_percentile(ordered: list[float], q: float) -> float | None:
    """Nearest rank: the smallest reading with at least q % of the readings at or below it."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]


def metrics_gauge_window(series: str, *, since: datetime, until: datetime,
                         labels: Mapping | None = None) -> GaugeSummary:
    """A gauge's readings over [since, until) (queue depth: one per minute). One query."""
    readings = list(_window(series, since, until, labels).filter(value__isnull=False)
                    .order_by("minute").values_list("value", flat=True))
    ordered = sorted(readings)
    return GaugeSummary(
        readings=len(readings), last=readings[-1] if readings else None, min=ordered[0] if ordered else None,
        max=ordered[-1] if ordered else None, avg=sum(ordered) / len(ordered) if ordered else None,
        p50=_exact_percentile(ordered, 50), p95=_exact_percentile(ordered, 95), p99=_exact_percentile(ordered, 99))
