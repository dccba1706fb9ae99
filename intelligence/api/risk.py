"""GET /api/v1/governance/risk: the governance risk score with each deduction and its cause, for operators."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from intelligence.services.risk import governance_risk

_RISK = {
    "score": serializers.FloatField(help_text="100 minus the deductions, to 1 decimal."),
    "level": serializers.ChoiceField(["low", "medium", "high", "critical"],
                                     help_text=">= 80 low, >= 60 medium, >= 40 high, else critical."),
    "at": serializers.DateTimeField(),
    "inputs": inline_serializer("GovernanceRiskInputs", {
        "audits_30d": serializers.IntegerField(help_text="Partner audits started in the last 30 days."),
        "partners_total": serializers.IntegerField(help_text="Live (not deleted) partners."),
        "partners_unverified": serializers.IntegerField(help_text="Live partners not approved."),
        "unverified_pct": serializers.FloatField(),
        "avg_rating": serializers.FloatField(allow_null=True, help_text="Mean of every star rating of a live partner."),
        "incidents_7d": serializers.IntegerField(help_text="Incidents opened in the last 7 days."),
    }),
    "deductions": inline_serializer("GovernanceRiskDeduction", {
        "rule": serializers.ChoiceField(["audit_volume", "unverified_partners", "low_rating", "incidents"]),
        "points": serializers.FloatField(),
        "cause": serializers.CharField(),
    }, many=True),
}


class GovernanceRiskView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="The governance risk score, its level and each deduction (admin:read keys or staff)",
                   operation_id="governance_risk", responses=inline_serializer("GovernanceRisk", _RISK))
    def get(self, request):
        return Response(governance_risk())
