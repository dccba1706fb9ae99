"""What the operations dashboard shows, read in a fixed number of queries whatever the range.

Numbers come from the rollups through intelligence.selectors.metrics (metrics_rows), bucketed to a
sensible number of points per range: the last hour in 60 one-minute points (MetricMinute rows),
the last day in 24 hours and the last week in 168 hours (the MetricHour rows the rollup keeps in
the same transaction as the minutes, so a week is ~1,500 rows instead of ~100,000, and the
current hour is as current as its minutes). The queue depth's average needs its readings, so it
is read from the minutes in every range (one small row a minute). Percentiles of a point come
from the merged histograms of its rows (levqor.histogram), never from averaging percentiles."""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from intelligence.models import Alert, Anomaly, Incident
from intelligence.selectors.metrics import metrics_rows
from intelligence.services.stabilize import stabilize_state
from levqor.histogram import histogram_percentile

REQUESTS, JOB_RUN, JOB_WAIT, QUEUE_DEPTH = "http.request", "job.run", "job.wait", "queue.depth"
ALERTS_SHOWN = 20
EVENTS_SHOWN = 50


@dataclass(frozen=True)
class Range:
    name: str
    label: str
    step_minutes: int
    points: int

    @property
    def step(self) -> timedelta:
        return timedelta(minutes=self.step_minutes)


RANGES = {
    "hour": Range("hour", "Last hour", 1, 60),
    "day": Range("day", "Last day", 60, 24),
    "week": Range("week", "Last week", 60, 168),
}
DEFAULT_RANGE = "hour"


@dataclass
class Dashboard:
    range: Range
    now: datetime
    start: datetime
    end: datetime
    buckets: list[datetime]
    has_data: bool = False
    minute_rows: int = 0
    hour_rows: int = 0
    requests: list = field(default_factory=list)         # requests in the point
    request_rate: list = field(default_factory=list)     # per minute
    error_rate: list = field(default_factory=list)       # % of requests answered 5xx
    p50: list = field(default_factory=list)
    p95: list = field(default_factory=list)
    p99: list = field(default_factory=list)
    depth_avg: list = field(default_factory=list)
    depth_max: list = field(default_factory=list)
    wait_mean: list = field(default_factory=list)
    wait_p95: list = field(default_factory=list)
    jobs_succeeded: list = field(default_factory=list)
    jobs_failed: list = field(default_factory=list)
    totals: dict = field(default_factory=dict)
    workflows: list = field(default_factory=list)
    routes: list = field(default_factory=list)
    anomalies: list = field(default_factory=list)
    incidents: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    alerts_open: int = 0
    stabilize: dict = field(default_factory=dict)


def dashboard_stabilize() -> dict:
    """Stabilize mode as the dashboard shows it: {enabled, since (a datetime), by, reason}. The one
    place the dashboard reads it."""
    state = stabilize_state()
    return {**state, "since": parse_datetime(state["since"]) if state["since"] else None}


def dashboard_range(name: str | None) -> Range:
    """The range asked for in the URL (?range=hour|day|week), the last hour otherwise."""
    return RANGES.get(name or "", RANGES[DEFAULT_RANGE])


def _floor(moment: datetime, minutes: int) -> datetime:
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    since_midnight = moment.hour * 60 + moment.minute
    return moment - timedelta(minutes=since_midnight % minutes)


class _Acc:
    """One point's running sums, for one subject (requests, job runs, waits)."""

    __slots__ = ("count", "errors", "sum_ms", "histogram")

    def __init__(self):
        self.count = 0
        self.errors = 0
        self.sum_ms = 0.0
        self.histogram: dict = {}

    def add(self, count, errors, sum_ms, histogram):
        self.count += count
        self.errors += errors
        self.sum_ms += sum_ms
        merged = self.histogram
        for index, n in histogram.items():
            merged[index] = merged.get(index, 0) + n

    def merge(self, other: "_Acc"):
        self.add(other.count, other.errors, other.sum_ms, other.histogram)

    def percentile(self, q):
        return histogram_percentile(self.histogram, q)


def dashboard_read(range_name: str | None = None, *, now: datetime | None = None) -> Dashboard:
    """Everything the operations page shows for one range."""
    rng = dashboard_range(range_name)
    now = now or timezone.now()
    end = _floor(now, rng.step_minutes) + rng.step
    start = end - rng.step * rng.points
    board = Dashboard(range=rng, now=now, start=start, end=end,
                      buckets=[start + rng.step * i for i in range(rng.points)])
    _read_metrics(board)
    _read_events(board)
    board.stabilize = dashboard_stabilize()
    return board


def _rows(board: Dashboard):
    """(time, series, labels_key, labels, count, errors, sum_ms, histogram, value) of every row in
    the range (metrics_rows: hours for hourly points, minutes otherwise; the queue depth's minutes
    always). A label set's labels are decoded once, not on every row (labels come as text)."""
    labels_of: dict[str, dict] = {}

    def labels(key: str, text) -> dict:
        found = labels_of.get(key)
        if found is None:
            found = labels_of[key] = (json.loads(text) if isinstance(text, str) else text) or {}
        return found

    rows = metrics_rows((REQUESTS, JOB_RUN, JOB_WAIT), since=board.start, until=board.end,
                        step_minutes=board.range.step_minutes, minutes_only=(QUEUE_DEPTH,))
    for at, series, key, text, count, errors, sum_ms, histogram, value, is_hour in rows:
        if is_hour:
            board.hour_rows += 1
        else:
            board.minute_rows += 1
        yield at, series, key, labels(key, text), count, errors, sum_ms, histogram, value


def _read_metrics(board: Dashboard) -> None:
    n, step, start = board.range.points, board.range.step, board.start
    requests = [_Acc() for _ in range(n)]
    seen = [False] * n
    runs = [_Acc() for _ in range(n)]
    waits = [_Acc() for _ in range(n)]
    depth_sum = [0.0] * n                                   # sum of readings
    depth_minutes = [defaultdict(int) for _ in range(n)]    # label set -> minutes read
    depth_at = [defaultdict(float) for _ in range(n)]       # minute -> total depth then
    by_workflow: dict[str, dict] = {}
    by_route: dict[tuple, _Acc] = {}
    latest_depth: tuple[datetime, float] | None = None
    latest_depth_minute: dict[datetime, float] = defaultdict(float)
    step_seconds = step.total_seconds()

    for at, series, labels_key, labels, count, errors, sum_ms, histogram, value in _rows(board):
        i = int((at - start).total_seconds() // step_seconds)
        if not 0 <= i < n:
            continue
        board.has_data = seen[i] = True
        if series == REQUESTS:
            requests[i].add(count, errors, sum_ms, histogram)
            route = (labels.get("route", "?"), labels.get("method", ""))
            if route not in by_route:
                by_route[route] = _Acc()
            by_route[route].add(count, errors, sum_ms, histogram)
        elif series in (JOB_RUN, JOB_WAIT):
            (runs if series == JOB_RUN else waits)[i].add(count, errors, sum_ms, histogram)
            workflow = labels.get("workflow", "?")
            entry = by_workflow.get(workflow)
            if entry is None:
                entry = by_workflow[workflow] = {"name": workflow, "run": _Acc(), "wait": _Acc()}
            entry["run" if series == JOB_RUN else "wait"].add(count, errors, sum_ms, histogram)
        elif series == QUEUE_DEPTH and value is not None:
            depth_sum[i] += value
            depth_minutes[i][labels_key] += 1
            depth_at[i][at] += value
            latest_depth_minute[at] += value

    minutes = [_elapsed_minutes(board, bucket) for bucket in board.buckets]
    board.requests = [a.count for a in requests]
    # No row of any series in a point (the queue depth is read every minute): the rollup was not
    # running, so nothing is known, which is not the same as no requests.
    board.request_rate = [a.count / m if m and seen[i] else None for i, (a, m) in enumerate(zip(requests, minutes,
                                                                                                strict=True))]
    board.error_rate = [100.0 * a.errors / a.count if a.count else None for a in requests]
    board.p50 = [a.percentile(50) for a in requests]
    board.p95 = [a.percentile(95) for a in requests]
    board.p99 = [a.percentile(99) for a in requests]
    board.depth_avg = [depth_sum[i] / max(depth_minutes[i].values()) if depth_minutes[i] else None for i in range(n)]
    board.depth_max = [max(depth_at[i].values()) if depth_at[i] else None for i in range(n)]
    board.wait_mean = [a.sum_ms / a.count if a.count else None for a in waits]
    board.wait_p95 = [a.percentile(95) for a in waits]
    board.jobs_succeeded = [a.count - a.errors for a in runs]
    board.jobs_failed = [a.errors for a in runs]
    if latest_depth_minute:
        latest_depth = max(latest_depth_minute.items())

    all_requests, all_runs, all_waits = _Acc(), _Acc(), _Acc()
    for acc in requests:
        all_requests.merge(acc)
    for acc in runs:
        all_runs.merge(acc)
    for acc in waits:
        all_waits.merge(acc)
    covered = sum(m for i, m in enumerate(minutes) if seen[i])
    board.totals = {
        "requests": all_requests.count,
        "request_rate": all_requests.count / covered if covered else None,
        "errors": all_requests.errors,
        "error_rate": 100.0 * all_requests.errors / all_requests.count if all_requests.count else None,
        "p50": all_requests.percentile(50), "p95": all_requests.percentile(95), "p99": all_requests.percentile(99),
        "jobs": all_runs.count, "jobs_failed": all_runs.errors, "jobs_succeeded": all_runs.count - all_runs.errors,
        "job_failure_rate": 100.0 * all_runs.errors / all_runs.count if all_runs.count else None,
        "wait_p95": all_waits.percentile(95),
        "wait_mean": all_waits.sum_ms / all_waits.count if all_waits.count else None,
        "depth_now": latest_depth[1] if latest_depth else None,
        "depth_now_at": latest_depth[0] if latest_depth else None,
        "depth_max": max((v for v in board.depth_max if v is not None), default=None),
    }
    board.workflows = sorted((
        {"name": w["name"], "jobs": w["run"].count, "failed": w["run"].errors,
         "failure_rate": 100.0 * w["run"].errors / w["run"].count if w["run"].count else None,
         "run_p50": w["run"].percentile(50), "run_p95": w["run"].percentile(95),
         "wait_p95": w["wait"].percentile(95)}
        for w in by_workflow.values()), key=lambda w: (-w["jobs"], w["name"]))
    board.routes = sorted((
        {"route": route, "method": method, "requests": acc.count, "errors": acc.errors,
         "error_rate": 100.0 * acc.errors / acc.count if acc.count else None,
         "p50": acc.percentile(50), "p95": acc.percentile(95), "p99": acc.percentile(99)}
        for (route, method), acc in by_route.items()), key=lambda r: (-r["requests"], r["route"], r["method"]))[:15]


def _elapsed_minutes(board: Dashboard, bucket: datetime) -> int:
    """How many whole minutes of this point have ended (the minute in progress is not rolled up)."""
    ended = _floor(board.now, 1)
    return max(0, min(board.range.step_minutes, int((ended - bucket).total_seconds() // 60)))


def _read_events(board: Dashboard) -> None:
    in_range = Q(opened_at__lt=board.end)
    board.anomalies = list(Anomaly.objects.filter(in_range, Q(cleared_at__isnull=True) | Q(cleared_at__gte=board.start))
                           .order_by("-opened_at")[:EVENTS_SHOWN])
    board.incidents = list(Incident.objects.filter(in_range, Q(resolved_at__isnull=True) | Q(resolved_at__gte=board.start))
                           .order_by("-opened_at")[:EVENTS_SHOWN])
    unresolved = Alert.objects.exclude(status=Alert.Status.RESOLVED)
    board.alerts = list(unresolved.select_related("acknowledged_by").order_by("-last_seen")[:ALERTS_SHOWN])
    board.alerts_open = unresolved.count()
