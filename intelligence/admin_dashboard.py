"""The operations dashboard, a page of the admin (staff only): /admin/operations/?range=hour|day|week.

Reads come from intelligence.selectors.dashboard; charts are drawn here as inline SVG
(intelligence.charts). admin.site.admin_view makes it staff only (others are sent to the admin's
sign-in), never cached, CSRF-protected like every admin page."""

from datetime import timedelta

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path, reverse

from intelligence.charts import Mark, Series, line_chart, number, stacked_bar_chart
from intelligence.models import Alert, Anomaly, Incident
from intelligence.selectors.dashboard import RANGES, Dashboard, dashboard_read

# Where the time axis is labelled, and how, per range.
TICKS = {"hour": (timedelta(minutes=10), "%H:%M"), "day": (timedelta(hours=3), "%H:%M"),
         "week": (timedelta(days=1), "%a %d")}


def _admin_link(model, pk=None) -> str | None:
    """The admin page of a model's list (or of one row), when the model has one."""
    if not admin.site.is_registered(model):
        return None
    opts = model._meta
    if pk is None:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def _stabilize_link() -> str | None:
    from waffle.models import Switch

    link = _admin_link(Switch)
    return f"{link}?name=STABILIZE_MODE" if link else None


def _when(moment) -> str:
    return f"{moment:%d %b %H:%M} UTC" if moment else ""


def _anomaly_mark(anomaly: Anomaly) -> Mark:
    z = f", z {anomaly.z_score:.1f}" if anomaly.z_score is not None else ""
    until = f"cleared {_when(anomaly.cleared_at)}" if anomaly.cleared_at else "still open"
    text = (f"Anomaly: {anomaly.series}\n{number(anomaly.value, 'ms')} ({anomaly.get_method_display()}{z})\n"
            f"opened {_when(anomaly.opened_at)}, {until}")
    return Mark("anomaly", anomaly.opened_at, anomaly.cleared_at, text)


def _incident_mark(incident: Incident) -> Mark:
    until = f"resolved {_when(incident.resolved_at)}" if incident.resolved_at else "still open"
    return Mark("incident", incident.opened_at, incident.resolved_at,
                f"Incident: {incident.title}\nopened {_when(incident.opened_at)}, {until}")


def _chart_of_anomaly(series: str) -> str:
    """Which chart an anomaly is marked on, by its series."""
    if series.startswith("job.run"):
        return "jobs"
    if series.startswith(("job.wait", "queue")):
        return "wait"
    return "latency"


def dashboard_charts(board: Dashboard) -> list:
    tick_every, tick_format = TICKS[board.range.name]
    incidents = [_incident_mark(i) for i in board.incidents]
    anomalies: dict[str, list[Mark]] = {}
    for anomaly in board.anomalies:
        anomalies.setdefault(_chart_of_anomaly(anomaly.series), []).append(_anomaly_mark(anomaly))
    common = {"buckets": board.buckets, "step": board.range.step, "tick_every": tick_every, "tick_format": tick_format}

    def marks(key):
        return [*incidents, *anomalies.get(key, [])]

    return [
        line_chart(key="rate", title="Request rate", unit="req/min", marks=marks("rate"),
                   series=[Series("requests per minute", "s-rate", board.request_rate)], **common),
        line_chart(key="errors", title="Error rate (5xx)", unit="%", marks=marks("errors"), y_floor=1.0,
                   series=[Series("5xx share of requests", "s-errors", board.error_rate)], **common),
        line_chart(key="latency", title="Request latency", unit="ms", marks=marks("latency"),
                   series=[Series("p50", "s-p50", board.p50), Series("p95", "s-p95", board.p95),
                           Series("p99", "s-p99", board.p99)], **common),
        line_chart(key="depth", title="Queue depth", unit="jobs", marks=marks("depth"),
                   series=[Series("average", "s-depth", board.depth_avg), Series("highest", "s-depth-max",
                                                                                 board.depth_max)], **common),
        line_chart(key="wait", title="Queue wait (due to start)", unit="ms", marks=marks("wait"),
                   series=[Series("mean", "s-wait", board.wait_mean), Series("p95", "s-wait-p95", board.wait_p95)],
                   **common),
        stacked_bar_chart(key="jobs", title="Jobs by outcome", unit="jobs", marks=marks("jobs"),
                          series=[Series("succeeded", "s-ok", board.jobs_succeeded),
                                  Series("failed", "s-failed", board.jobs_failed)], **common),
    ]


def dashboard_tiles(board: Dashboard) -> list[dict]:
    t = board.totals
    failure = f" ({number(t['job_failure_rate'], '%')})" if t["job_failure_rate"] is not None else ""
    depth_now = (f"at {t['depth_now_at']:%H:%M} UTC, highest {number(t['depth_max'])}"
                 if t["depth_now_at"] else f"highest {number(t['depth_max'])}")
    return [
        {"key": "requests", "label": "Requests", "value": number(t["requests"]),
         "detail": f"{number(t['request_rate'])} per minute"},
        {"key": "errors", "label": "Error rate (5xx)", "value": number(t["error_rate"], "%"),
         "detail": f"{number(t['errors'])} answered 5xx"},
        {"key": "latency", "label": "Latency p95", "value": number(t["p95"], "ms"),
         "detail": f"p50 {number(t['p50'], 'ms')} · p99 {number(t['p99'], 'ms')}"},
        {"key": "jobs", "label": "Jobs finished", "value": number(t["jobs"]),
         "detail": f"{number(t['jobs_failed'])} failed{failure}"},
        {"key": "depth", "label": "Queue depth now", "value": number(t["depth_now"]), "detail": depth_now},
        {"key": "wait", "label": "Queue wait p95", "value": number(t["wait_p95"], "ms"),
         "detail": f"mean {number(t['wait_mean'], 'ms')}"},
    ]


def operations_dashboard(request):
    board = dashboard_read(request.GET.get("range"))
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "board": board,
        "ranges": list(RANGES.values()),
        "charts": dashboard_charts(board) if board.has_data else [],
        "tiles": dashboard_tiles(board),
        "anomalies": [(a, _admin_link(Anomaly, a.pk)) for a in board.anomalies],
        "incidents": [(i, _admin_link(Incident, i.pk)) for i in board.incidents],
        "alerts": [(a, _admin_link(Alert, a.pk)) for a in board.alerts],
        "alerts_link": _admin_link(Alert),
        "open_incidents": sum(1 for i in board.incidents if i.resolved_at is None),
        "open_anomalies": sum(1 for a in board.anomalies if a.cleared_at is None),
        "stabilize_link": _stabilize_link(),
    }
    return TemplateResponse(request, "intelligence/dashboard.html", context)


urlpatterns = [path("", admin.site.admin_view(operations_dashboard), name="operations-dashboard")]
