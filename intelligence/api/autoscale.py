"""The profit-driven autoscale's decision for operators and for the autoscalers that act on it
(admin:read keys or staff; beside the other /ops views, outside the versioned API):

- GET /ops/autoscale: {action, desired_workers, previous_workers, reason, held_by, metrics, at, stale};
- GET /ops/autoscale/metrics: {"desired_workers": N}, read by KEDA's metrics-api scaler
  (valueLocation "desired_workers", the key in an X-Api-Key header);
- GET /ops/autoscale/prometheus: the same in the Prometheus text format
  (levqor_autoscale_desired_workers N), for Prometheus or KEDA's metrics-api with format prometheus.

Each is the latest decision (the schedule takes one a minute); before the first one, one is taken
at once. Errors keep the JSON error shape (401 without credentials, 403 for others)."""

from datetime import timedelta

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from intelligence.models import AutoscaleDecision
from intelligence.services.autoscale import autoscale_current

# The schedule decides every minute: an older latest decision means it stopped.
STALE_AFTER = timedelta(minutes=5)
PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _OperatorView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}


def autoscale_payload(decision: AutoscaleDecision) -> dict:
    return {"action": decision.action, "desired_workers": decision.desired_workers,
            "previous_workers": decision.previous_workers, "reason": decision.reason, "held_by": decision.held_by,
            "metrics": decision.metrics, "at": decision.at.isoformat().replace("+00:00", "Z"),
            "stale": decision.at < timezone.now() - STALE_AFTER}


class AutoscaleView(_OperatorView):
    @extend_schema(exclude=True)
    def get(self, request):
        return Response(autoscale_payload(autoscale_current()))


class AutoscaleMetricView(_OperatorView):
    @extend_schema(exclude=True)
    def get(self, request):
        """KEDA's metrics-api scaler reads desired_workers (targetValue 1, AverageValue: replicas = N)."""
        return Response({"desired_workers": autoscale_current().desired_workers})


class _AnyAccept(BaseContentNegotiation):
    """The text answer whatever the scraper accepts; errors still render as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None


class AutoscalePrometheusView(_OperatorView):
    content_negotiation_class = _AnyAccept

    @extend_schema(exclude=True)
    def get(self, request):
        decision = autoscale_current()
        lines = [
            "# HELP levqor_autoscale_desired_workers Workers the profit-driven autoscale wants (its latest decision).",
            "# TYPE levqor_autoscale_desired_workers gauge",
            f"levqor_autoscale_desired_workers {decision.desired_workers}",
            "# HELP levqor_autoscale_decision_timestamp_seconds When the latest decision was taken (Unix time).",
            "# TYPE levqor_autoscale_decision_timestamp_seconds gauge",
            f"levqor_autoscale_decision_timestamp_seconds {decision.at.timestamp():.3f}",
            "# HELP levqor_autoscale_frozen Whether scaling up is frozen, by cause (profit margin, 24-hour spend).",
            "# TYPE levqor_autoscale_frozen gauge",
            f'levqor_autoscale_frozen{{cause="profit"}} {int(bool(decision.metrics.get("profit_frozen")))}',
            f'levqor_autoscale_frozen{{cause="spend"}} {int(bool(decision.metrics.get("spend_frozen")))}',
        ]
        return HttpResponse("\n".join(lines) + "\n", content_type=PROMETHEUS_TYPE)
