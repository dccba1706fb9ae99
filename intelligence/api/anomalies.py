"""GET /api/v1/intelligence/anomaly: the anomaly scan's latest judgement of each watched series,
in the old service's shape {ready, anomaly, latency_ms, z_score, method} (with the series named)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from intelligence.selectors.incidents import anomaly_series_all

SERIES_FIELDS = {
    "series": serializers.CharField(help_text='e.g. "http.request.p95 route=/api/v1/jobs", "job.run workflow=demo.flow"'),
    "ready": serializers.BooleanField(help_text="At least 10 samples: the z-score and IQR rules judge."),
    "anomaly": serializers.BooleanField(),
    "latency_ms": serializers.FloatField(allow_null=True, help_text="The latest minute's p95."),
    "z_score": serializers.FloatField(allow_null=True),
    "method": serializers.ChoiceField(choices=["zscore", "iqr", "spike"], allow_null=True,
                                      help_text="The rule that found the anomaly; null when none did."),
    "samples": serializers.IntegerField(help_text="Samples the latest minute was judged against."),
    "scanned_until": serializers.DateTimeField(),
}


class AnomalyView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="Anomaly state of each watched series (request p95 per route group, run time per workflow)",
                   responses=inline_serializer("AnomalyReport", {
                       "series": inline_serializer("AnomalySeriesJudgement", SERIES_FIELDS, many=True)}))
    def get(self, request):
        return Response({"series": [
            {"series": row.series, "ready": row.ready, "anomaly": row.anomaly, "latency_ms": row.latency_ms,
             "z_score": row.z_score, "method": row.method or None, "samples": row.window,
             "scanned_until": row.scanned_until}
            for row in anomaly_series_all().defer("samples")]})
