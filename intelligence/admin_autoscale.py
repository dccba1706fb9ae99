"""The profit-driven autoscale as a page of the admin (staff only): /admin/money/autoscale/?range=hour|day|week.

The latest decision and what it stood on (the flag, stabilize mode, the worker range, the margin
and the spend), its history as charts (workers wanted, request p95 and queue depth the decisions
sampled; intelligence.charts, inline SVG) over the operations dashboard's ranges, and the latest
decisions with their reasons. A read: the page takes no decision (the schedule does)."""

from datetime import UTC, datetime

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from intelligence.admin_dashboard import TICKS, _admin_link
from intelligence.charts import Series, line_chart
from intelligence.known_flags import AUTOSCALE_ENABLED
from intelligence.models import AutoscaleDecision, HeldAction
from intelligence.selectors.autoscale import autoscale_decisions_recent, autoscale_history
from intelligence.selectors.dashboard import RANGES, dashboard_range
from intelligence.services.autoscale import (
    MARGIN_MIN_PCT,
    P95_PRESSURE_MS,
    P95_QUIET_MS,
    QUEUE_PRESSURE,
    SPEND_FREEZE_SHARE,
)
from intelligence.services.flags import flag_active
from intelligence.services.stabilize import stabilize_state

RECENT = 30


def _flag_link() -> str | None:
    from waffle.models import Flag

    link = _admin_link(Flag)
    return f"{link}?name={AUTOSCALE_ENABLED}" if link else None


def autoscale_charts(range_name: str | None, *, now: datetime) -> tuple:
    """The range, its window, and the three charts of the decisions in it (one query)."""
    rng = dashboard_range(range_name)
    step = int(rng.step.total_seconds())
    end = datetime.fromtimestamp(int(now.timestamp()) // step * step + step, UTC)
    start = end - rng.step * rng.points
    buckets = [start + rng.step * i for i in range(rng.points)]
    history = autoscale_history(since=start, until=end, step_seconds=step)
    tick_every, tick_format = TICKS[rng.name]
    common = {"buckets": buckets, "step": rng.step, "tick_every": tick_every, "tick_format": tick_format}

    def values(key):
        return [history.get(b, {}).get(key) for b in buckets]

    charts = [
        line_chart(key="workers", title="Workers wanted", unit="workers", y_floor=float(settings.AUTOSCALE_MAX_WORKERS),
                   series=[Series("desired workers", "s-workers", values("workers"))], **common),
        line_chart(key="p95", title="Request p95 sampled", unit="ms", y_floor=P95_PRESSURE_MS,
                   series=[Series("p95", "s-p95", values("p95_ms"))], **common),
        line_chart(key="queue", title="Queue depth sampled", unit="jobs", y_floor=float(QUEUE_PRESSURE),
                   series=[Series("due, queued jobs", "s-depth", values("queue_depth"))], **common),
    ]
    return rng, start, end, charts, bool(history)


def autoscale_page(request):
    rng, start, end, charts, has_data = autoscale_charts(request.GET.get("range"), now=timezone.now())
    recent = autoscale_decisions_recent(limit=RECENT)
    context = {
        **admin.site.each_context(request),
        "title": "Profit-driven autoscale",
        "range": rng, "ranges": list(RANGES.values()), "start": start, "end": end,
        "charts": charts, "has_data": has_data,
        "latest": recent[0] if recent else None, "recent": recent,
        "enabled": flag_active(AUTOSCALE_ENABLED), "flag_link": _flag_link(), "stabilize": stabilize_state(),
        "rules": {"min_workers": settings.AUTOSCALE_MIN_WORKERS, "max_workers": settings.AUTOSCALE_MAX_WORKERS,
                  "spend_limit": settings.AUTOSCALE_DAILY_SPEND_LIMIT, "spend_share_pct": int(SPEND_FREEZE_SHARE * 100),
                  "margin_min_pct": MARGIN_MIN_PCT, "p95_pressure": P95_PRESSURE_MS, "p95_quiet": P95_QUIET_MS,
                  "queue_pressure": QUEUE_PRESSURE, "currency": settings.BILLING_CURRENCY.upper()},
        "decisions_link": _admin_link(AutoscaleDecision),
        "held_link": (f"{link}?action=autoscale" if (link := _admin_link(HeldAction)) else None),
    }
    return TemplateResponse(request, "intelligence/autoscale.html", context)


urlpatterns = [path("", admin.site.admin_view(autoscale_page), name="autoscale-admin")]
