"""Billing API under /api/v1/billing/: start a Checkout Session for a paid tier, open the billing
portal. Thin: parse, call a service, answer. A test-mode key works in Stripe's test mode only."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_livemode
from accounts.serializers import api_errors
from levqor.validation import request_validated
from marketplace.selectors import paid_tiers
from marketplace.services.checkout import billing_portal_start, checkout_session_start

BILLING_SCOPE = "billing:write"



class CheckoutRequestSerializer(serializers.Serializer):
    tier = serializers.ChoiceField(choices=[], help_text="The paid tier to subscribe to (pro, enterprise).")
    code = serializers.CharField(required=False, allow_blank=True, max_length=32,
                                 help_text="A promotion code (LEVQOR-...). Without one, Checkout offers its own box.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tier"].choices = paid_tiers()


_SESSION = inline_serializer("BillingCheckoutSession", {
    "id": serializers.CharField(help_text="The Stripe Checkout Session id (cs_...)."),
    "url": serializers.URLField(help_text="Send the customer here to pay."),
})
_IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                description="Passed on to Stripe: a retry with the same key gets the same session.")


class CheckoutView(APIView):
    required_scopes = {"POST": BILLING_SCOPE}

    @extend_schema(summary="Start a Stripe Checkout Session for a paid tier (subscription)",
                   operation_id="billing_checkout", request=CheckoutRequestSerializer, parameters=[_IDEMPOTENCY],
                   responses={201: _SESSION, **api_errors(400, 401, 403, 409, 502, 503)})
    def post(self, request):
        data = request_validated(CheckoutRequestSerializer, request)
        started = checkout_session_start(user=request.user, livemode=request_livemode(request), tier=data["tier"],
                                         code=data.get("code", ""),
                                         idempotency_key=request.headers.get("Idempotency-Key", "").strip()[:200])
        return Response({"id": started.session.stripe_id, "url": started.session.url}, status=201)


class PortalView(APIView):
    required_scopes = {"POST": BILLING_SCOPE}

    @extend_schema(summary="Open the Stripe billing portal (card, plan, cancellation)", operation_id="billing_portal",
                   request=None, responses={200: inline_serializer("BillingPortalSession", {"url": serializers.URLField()}),
                                            **api_errors(401, 403, 409, 502, 503)})
    def post(self, request):
        return Response({"url": billing_portal_start(user=request.user, livemode=request_livemode(request))})
