"""Anomalies: each minute, request p95 per route group and run time (p95) per workflow, judged
against that series' recent per-minute values by the reference's rules (original-behaviour.md §4).

- z-score: z = |x - mean| / (stdev + 1e-6) over the last 500 samples (at least 10); anomalous
  when z > 3;
- IQR fences: anomalous outside [Q1 - 1.5·IQR, Q3 + 1.5·IQR] of the same samples;
- spike: x > mean + 2·pstdev of the last 20 samples (at least 5).

x, the latest minute's value, is judged against the samples before it: a window that held x
itself could never reach z > 3 with 10 samples (an outlier's z is below sqrt(n)).

A finding opens an Anomaly (one open per series) and raises an alert; the anomaly clears when the
series' latest value is normal again."""

import statistics
from dataclasses import asdict, dataclass
from dataclasses import fields as fields_of
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from intelligence.models import Anomaly, AnomalySeries
from intelligence.selectors.incidents import metric_timing_rows
from intelligence.services.alerts import alert_raise
from levqor.histogram import histogram_merge, histogram_percentile

WINDOW = 500  # samples the z-score and IQR rules judge against
MIN_SAMPLES = 10
Z_THRESHOLD = 3.0
EPSILON = 1e-6
IQR_FACTOR = 1.5
SPIKE_WINDOW = 20
SPIKE_MIN_SAMPLES = 5
SPIKE_FACTOR = 2.0
# A scan reads the rollups since the last scan and of the RECHECK minutes before it (a rollup
# that lands late still counts), and on its first run (or after downtime) at most LOOKBACK.
RECHECK = timedelta(minutes=2)
LOOKBACK = timedelta(hours=24)
# (rollup series, the label that names a series, the name of the watched series)
WATCHED = (("http.request", "route", "http.request.p95 route={}"), ("job.run", "workflow", "job.run workflow={}"))


@dataclass(frozen=True)
class Judgement:
    ready: bool  # enough samples for the z-score and IQR rules
    anomaly: bool
    latency_ms: float | None
    z_score: float | None
    method: str  # "zscore", "iqr", "spike" or "" (the first rule that found it)
    window: int  # samples the z-score and IQR rules used


def z_score(baseline: list[float], x: float) -> float:
    return abs(x - statistics.fmean(baseline)) / (statistics.stdev(baseline) + EPSILON)


def iqr_fences(baseline: list[float]) -> tuple[float, float]:
    """[Q1 - 1.5·IQR, Q3 + 1.5·IQR], quartiles by linear interpolation (as numpy.percentile)."""
    q1, _, q3 = statistics.quantiles(baseline, n=4, method="inclusive")
    iqr = q3 - q1
    return q1 - IQR_FACTOR * iqr, q3 + IQR_FACTOR * iqr


def spike_threshold(recent: list[float]) -> float:
    return statistics.fmean(recent) + SPIKE_FACTOR * statistics.pstdev(recent)


def anomaly_judge(samples: list[float]) -> Judgement:
    """Judge the last of `samples` (oldest first) against those before it."""
    if not samples:
        return Judgement(ready=False, anomaly=False, latency_ms=None, z_score=None, method="", window=0)
    x, baseline = samples[-1], samples[:-1][-WINDOW:]
    ready = len(baseline) >= MIN_SAMPLES
    z, method = None, ""
    if ready:
        z = z_score(baseline, x)
        low, high = iqr_fences(baseline)
        if z > Z_THRESHOLD:
            method = Anomaly.Method.ZSCORE
        elif not low <= x <= high:
            method = Anomaly.Method.IQR
    recent = baseline[-SPIKE_WINDOW:]
    if not method and len(recent) >= SPIKE_MIN_SAMPLES and x > spike_threshold(recent):
        method = Anomaly.Method.SPIKE
    return Judgement(ready=ready, anomaly=bool(method), latency_ms=x, z_score=None if z is None else round(z, 3),
                     method=str(method), window=len(baseline))


def route_group(route: str) -> str:
    """The group a request's route counts in: an API route by its resource (/api/v1/jobs for
    /api/v1/jobs/<uuid:job_id>/cancel), any other path by its first segment (/admin), a route
    name (no slash) as itself."""
    if "/" not in route:
        return route or "/"
    segments = []
    for segment in route.strip("/").split("/"):
        if not segment or segment.startswith("<") or segment.startswith("("):
            break
        segments.append(segment)
    keep = 3 if segments[:1] == ["api"] and len(segments) >= 2 and segments[1][:1] == "v" else 1
    return "/" + "/".join(segments[:keep])


def _series_name(template: str, label: str, value: str) -> str:
    return template.format(route_group(value) if label == "route" else value)[:200]


def _epoch(minute: datetime) -> int:
    return int(minute.timestamp())


def _minute_samples(*, start: datetime, end: datetime) -> dict[str, dict[int, float]]:
    """{series: {minute (epoch s): p95 ms}} from the rollups in [start, end): per minute, the
    histograms of every row in the series (methods, status classes, routes of one group) merged."""
    merged: dict[str, dict[int, list]] = {}
    for rollup, label, template in WATCHED:
        for minute, labels, histogram in metric_timing_rows(rollup, start=start, end=end):
            name = _series_name(template, label, str((labels or {}).get(label, "")))
            merged.setdefault(name, {}).setdefault(_epoch(minute), []).append(histogram)
    samples: dict[str, dict[int, float]] = {}
    for name, minutes in merged.items():
        for minute, histograms in minutes.items():
            p95 = histogram_percentile(histogram_merge(histograms), 95)
            if p95 is not None:  # a row with a count but no histogram has no reading
                samples.setdefault(name, {})[minute] = p95
    return samples


def anomaly_scan(*, now: datetime | None = None) -> list[Anomaly]:
    """Read the rollups since the last scan, judge every watched series' latest minute, open an
    anomaly (and raise an alert) for each new finding and clear those whose series is normal
    again. Returns the anomalies opened."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)  # the minute in progress is not rolled up yet
    watched = {row.series: row for row in AnomalySeries.objects.all()}
    since = min((row.scanned_until for row in watched.values()), default=end - LOOKBACK)
    since = max(since - RECHECK, end - LOOKBACK)
    fresh = _minute_samples(start=since, end=end)
    open_series = set(Anomaly.objects.filter(cleared_at__isnull=True).values_list("series", flat=True))
    judged: dict[str, tuple[Judgement, datetime]] = {}
    for name in set(watched) | set(fresh):
        row = watched.setdefault(name, AnomalySeries(series=name))
        samples = {minute: value for minute, value in row.samples} | fresh.get(name, {})  # a late rollup's wins
        row.samples = [[minute, samples[minute]] for minute in sorted(samples)][-(WINDOW + 1):]
        judgement = anomaly_judge([value for _, value in row.samples])
        for field, value in asdict(judgement).items():
            setattr(row, field, value)
        row.scanned_until = end
        judged[name] = judgement, datetime.fromtimestamp(row.samples[-1][0], tz=UTC)
    fields = ["samples", "scanned_until", *(field.name for field in fields_of(Judgement))]
    AnomalySeries.objects.bulk_update([row for row in watched.values() if row.pk], fields)
    AnomalySeries.objects.bulk_create([row for row in watched.values() if not row.pk], ignore_conflicts=True)
    cleared = [name for name, (judgement, _) in judged.items() if name in open_series and not judgement.anomaly]
    if cleared:
        Anomaly.objects.filter(series__in=cleared, cleared_at__isnull=True).update(cleared_at=now)
    opened = []
    for name, (judgement, minute) in sorted(judged.items()):
        if judgement.anomaly and name not in open_series:
            anomaly = _anomaly_open(name, judgement, minute=minute, now=now)
            if anomaly is not None:
                opened.append(anomaly)
    return opened


def _anomaly_open(series: str, judgement: Judgement, *, minute: datetime, now: datetime) -> Anomaly | None:
    """Open an anomaly for a finding, with its alert; None when one is open already."""
    try:
        with transaction.atomic():
            anomaly = Anomaly.objects.create(series=series, opened_at=now, value=judgement.latency_ms,
                                             z_score=judgement.z_score, method=judgement.method, window=judgement.window)
    except IntegrityError:  # another scan opened it first (one open per series)
        return None
    z = "" if judgement.z_score is None else f", z = {judgement.z_score:.2f}"
    anomaly.alert = alert_raise(
        source="anomaly", severity="warning", dedup_key=f"anomaly:{series}",
        title=f"Anomaly in {series}: {judgement.latency_ms:.0f} ms ({anomaly.get_method_display()})",
        body=(f"{series} read {judgement.latency_ms:.1f} ms in the minute from {minute:%Y-%m-%d %H:%M} UTC, outside "
              f"its normal range by the {anomaly.get_method_display()} ({judgement.window} samples before it{z})."))
    anomaly.save(update_fields=["alert"])
    return anomaly
