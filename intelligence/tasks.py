"""django-q2 entry points of the intelligence app: call a service, no logic."""

from intelligence.services.metric_spans import metric_spans_compact


def dashboard_compact() -> dict:
    """Schedule "intelligence.dashboard_compact" (every 5 minutes): quarter-hour spans for the dashboard."""
    return metric_spans_compact()
