"""GET /api/v1/intelligence/ledger?days=30: the profit ledger's report per currency, for operators.

ledger_report's shape (amounts in integer minor units) with each amount also as a decimal string
in major units beside it ("revenue": 1900, "revenue_display": "19.00"), and today's AI cost so far
under "today" (not stored, not in the totals)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from accounts.serializers import api_errors
from intelligence.api.params import days_from, days_param
from intelligence.selectors.ledger import AMOUNT_KEYS, ledger_report_displayed

_CURRENCY = {
    **{key: serializers.IntegerField(help_text="Minor units.") for key in AMOUNT_KEYS},
    **{f"{key}_display": serializers.CharField(help_text='Major units as a decimal string, e.g. "19.00".')
       for key in AMOUNT_KEYS},
    "margin_pct": serializers.FloatField(allow_null=True, help_text="net / revenue * 100, 2 decimals; null without revenue."),
}
_REPORT = {
    "from": serializers.DateField(), "to": serializers.DateField(), "days": serializers.IntegerField(),
    "currencies": serializers.DictField(child=inline_serializer("LedgerCurrency", _CURRENCY),
                                        help_text="By upper-case currency code; never converted."),
    "today": inline_serializer("LedgerToday", {"ai_cost": inline_serializer("LedgerTodayAiCost", {
        "day": serializers.DateField(), "currency": serializers.CharField(), "amount_minor": serializers.IntegerField(),
        "amount_display": serializers.CharField(), "jobs": serializers.IntegerField()})}),
}


class LedgerReportView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="The profit ledger over the last N days per currency (admin:read keys or staff)",
                   operation_id="intelligence_ledger",
                   parameters=[days_param("Days ending today (included, UTC),")],
                   responses={200: inline_serializer("LedgerReport", _REPORT), **api_errors(400, 401, 403)})
    def get(self, request):
        return Response(ledger_report_displayed(days=days_from(request)))
