"""GET /api/v1/intelligence/growth?days=30 and GET /api/v1/intelligence/retention?days=30: the growth
funnel's figures for operators (admin:read keys or staff), read from the daily tables.

Ratios are decimal strings in the currency's major units (never floats); revenue_minor is the
integer in minor units. The window is the `days` complete UTC days ending yesterday."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from accounts.serializers import api_errors
from intelligence.api.params import days_from, days_param
from intelligence.selectors.growth import (
    cohort_triangle,
    growth_by_source,
    growth_window,
    retention_by_source,
    retention_series,
)

_DAYS = days_param("Complete UTC days ending yesterday,")


def _plain(value):
    """Decimals as strings (exact), recursively: JSON numbers would make them floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_MONEY = inline_serializer("GrowthMoney", {
    "revenue_minor": serializers.IntegerField(), "revenue": serializers.DecimalField(20, 2),
    "arpu": serializers.DecimalField(20, 2), "roi_proxy": serializers.DecimalField(20, 2)})
_ROW = {"visits": serializers.IntegerField(), "signups": serializers.IntegerField(),
        "paid": serializers.IntegerField(help_text="Users whose first paid tier began in the window."),
        "conversion_pct": serializers.DecimalField(9, 2),
        "revenue": serializers.DictField(child=_MONEY, help_text="Per currency (upper-case ISO code).")}


class GrowthView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="Growth by source: visits, signups, paid, revenue, conversion_pct, arpu, roi_proxy",
                   operation_id="intelligence_growth", parameters=[_DAYS],
                   responses={200: inline_serializer("Growth", {
                       "from": serializers.DateField(), "to": serializers.DateField(), "days": serializers.IntegerField(),
                       "sources": inline_serializer("GrowthSource", {"source": serializers.CharField(), **_ROW}, many=True),
                       "total": inline_serializer("GrowthTotal", _ROW)}), **api_errors(400, 401, 403)})
    def get(self, request):
        return Response(_plain(growth_by_source(window=growth_window(days=days_from(request)))))


class RetentionView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="DAU / WAU / MAU and paying users by day, by source on the last day, and the cohort triangle",
                   operation_id="intelligence_retention", parameters=[_DAYS],
                   responses={200: inline_serializer("Retention", {
                       "from": serializers.DateField(), "to": serializers.DateField(),
                       "series": serializers.ListField(child=serializers.DictField(), help_text=(
                           "[{day, dau, wau, mau, paying}] over all users; null where a day was not computed.")),
                       "by_source": serializers.ListField(child=serializers.DictField(), help_text=(
                           "[{source, dau, wau, mau, paying}] on the last day.")),
                       "cohorts": serializers.ListField(child=serializers.DictField(), help_text=(
                           "[{cohort (Monday), size, cells: [{weeks_since, active, pct}]}]."))}),
                       **api_errors(400, 401, 403)})
    def get(self, request):
        window = growth_window(days=days_from(request))
        series = retention_series(window=window)
        rows = [{"day": day, **{name: series[name][i] for name in ("dau", "wau", "mau", "paying")}}
                for i, day in enumerate(series["days"])]
        return Response(_plain({"from": window.first, "to": window.last, "series": rows,
                                "by_source": retention_by_source(day=window.last), "cohorts": cohort_triangle()}))
