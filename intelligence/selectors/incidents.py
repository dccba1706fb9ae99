"""Reads of the anomaly scan, the SLO watchdog and auto-tune: rollups over a window, and the
state of anomalies, checks, incidents and their recovery."""

from collections import defaultdict
from datetime import datetime

from django.db.models import QuerySet, Sum

from intelligence.models import AnomalySeries, Incident, IncidentRecovery, MetricMinute, SloCheck
from levqor.histogram import histogram_merge


def metric_timing_rows(series: str, *, start: datetime, end: datetime):
    """(minute, labels, histogram) of a timing series' rows in [start, end), oldest first."""
    return (MetricMinute.objects.filter(series=series, minute__gte=start, minute__lt=end, count__gt=0)
            .order_by("minute").values_list("minute", "labels", "histogram"))


def metric_window_totals(series: str, *, start: datetime, end: datetime) -> dict:
    """A timing series over [start, end), every label set together: count, errors and the merged
    histogram (percentiles read from it are those of the whole window)."""
    rows = MetricMinute.objects.filter(series=series, minute__gte=start, minute__lt=end, count__gt=0)
    totals = rows.aggregate(count=Sum("count"), errors=Sum("errors"))
    return {"count": totals["count"] or 0, "errors": totals["errors"] or 0,
            "histogram": histogram_merge(rows.values_list("histogram", flat=True))}


def metric_gauge_per_minute(series: str, *, start: datetime, end: datetime) -> list[float]:
    """A gauge's reading per minute over [start, end) (label sets added up), oldest first."""
    readings: dict[datetime, float] = defaultdict(float)
    rows = (MetricMinute.objects.filter(series=series, minute__gte=start, minute__lt=end, value__isnull=False)
            .values_list("minute", "value"))
    for minute, value in rows:
        readings[minute] += value
    return [readings[minute] for minute in sorted(readings)]


def anomaly_series_all() -> QuerySet:
    return AnomalySeries.objects.order_by("series")


def incident_open() -> Incident | None:
    """The open incident (the watchdog opens one at a time)."""
    return Incident.objects.filter(status=Incident.Status.OPEN).order_by("-opened_at").first()


def slo_breaches_unassigned(*, since: datetime) -> QuerySet:
    """Checks that breached an objective, outside any incident, whose window ended at or after
    `since`, oldest first."""
    return SloCheck.objects.filter(passed=False, incident__isnull=True, window_end__gte=since).order_by("window_end")


def slo_checks_latest_of(incident: Incident, *, limit: int) -> list[SloCheck]:
    """The incident's latest checks, newest first."""
    return list(incident.checks.order_by("-window_end")[:limit])


def recovery_last_ended_at() -> datetime | None:
    """When the last automatic recovery ended (its settings restored)."""
    return (IncidentRecovery.objects.filter(ended_at__isnull=False).order_by("-ended_at")
            .values_list("ended_at", flat=True).first())


def recovery_active_changes() -> dict:
    """The runtime settings an incident's recovery holds changed now ({} when none does)."""
    recovery = IncidentRecovery.objects.filter(state=IncidentRecovery.State.ACTIVE).first()
    return recovery.changes if recovery is not None else {}
