"""GET /api/v1/intelligence/pricing and /api/v1/intelligence/discounts: the pro tier's price, the
latest adaptive-price suggestions and the recent discount codes, for operators (admin:read)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator
from intelligence.selectors.pricing import discounts_recent, pricing_overview

_SUGGESTION = {
    "id": serializers.IntegerField(),
    "created_at": serializers.DateTimeField(),
    "status": serializers.CharField(help_text="suggested, applied, held (stabilize mode) or dismissed."),
    "trigger": serializers.ChoiceField(["schedule", "admin"]),
    "currency": serializers.CharField(),
    "suggested_minor": serializers.IntegerField(),
    "current_minor": serializers.IntegerField(allow_null=True),
    "inputs": serializers.DictField(help_text="runs, p95_ms, ops/infra/refunds (major units) and the window."),
    "formula": serializers.CharField(),
    "stripe_price_id": serializers.CharField(help_text="The Stripe Price it became, once applied."),
    "note": serializers.CharField(),
}
_PRICING = {
    "tier": serializers.CharField(),
    "current": inline_serializer("PricingCurrent", {"amount_minor": serializers.IntegerField(allow_null=True),
                                                    "currency": serializers.CharField(),
                                                    "source": serializers.CharField()}),
    "auto_apply": serializers.BooleanField(help_text="PRICING_AUTO_APPLY"),
    "stripe_configured": serializers.BooleanField(),
    "suggestions": inline_serializer("PriceSuggestion", _SUGGESTION, many=True),
}
_DISCOUNT = {
    "day": serializers.DateField(),
    "code": serializers.CharField(),
    "reason": serializers.ChoiceField(["low_signups", "low_conversions", "healthy_growth"]),
    "percent_off": serializers.IntegerField(),
    "valid_until": serializers.DateTimeField(),
    "status": serializers.CharField(help_text="suggested, held (stabilize mode), active, inactive or expired."),
    "honoured": serializers.BooleanField(help_text="Checkout honours the code now (active, before valid_until)."),
    "redemptions": serializers.IntegerField(help_text="Completed checkouts with the code."),
    "inputs": serializers.DictField(help_text="signups and paid over the 7 days."),
    "stripe_promotion_code_id": serializers.CharField(),
    "note": serializers.CharField(),
}


class PricingView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="The pro tier's price and the latest adaptive-price suggestions (admin:read keys or staff)",
                   operation_id="intelligence_pricing", responses=inline_serializer("Pricing", _PRICING))
    def get(self, request):
        return Response(pricing_overview())


class DiscountsView(APIView):
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="The last 30 days' discount codes with their reason, state and redemptions "
                           "(admin:read keys or staff)",
                   operation_id="intelligence_discounts",
                   responses=inline_serializer("Discounts", {"discounts": inline_serializer("Discount", _DISCOUNT,
                                                                                            many=True)}))
    def get(self, request):
        return Response({"discounts": discounts_recent()})
