"""A partner's payouts over the API: GET /api/v1/marketplace/payouts (history, Connect status, the
orders still to be paid) and POST /api/v1/marketplace/connect/onboarding ({url} of a Stripe
Account Link). The partner's owner with an API key (a test-mode key: Stripe's test mode), or the
partner's own systems with a signed partner request (live). Thin: the services decide."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from accounts.permissions import request_livemode
from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from marketplace.models import ConnectAccount
from marketplace.selectors import orders_awaiting_payout, payouts_of
from marketplace.services.connect import connect_onboarding_link, connect_status
from marketplace.services.payout_reversals import order_payout_amount
from marketplace.services.payouts import HOLD_DISPUTED, payout_data, payout_hold_reason
from partners.authentication import PartnerSignatureAuthentication, partner_from_request
from partners.selectors import partner_live_for

AWAITING_MAX = 100


def _partner_and_mode(request):
    """The partner the request acts for and its mode: a signed partner request's partner (live),
    or the key holder's own partner (in the key's mode). 404 when the caller has no partner."""
    partner = partner_from_request(request)
    if partner is not None:
        return partner, True
    partner = partner_live_for(request.user)
    if partner is None:
        raise AppError(ErrorCode.NOT_FOUND, "This account has no partner: apply at /partners first.")
    return partner, request_livemode(request)


class PartnerPayoutsView(APIView):
    # The partner's owner (API key or session), or its systems (a signed partner request).
    authentication_classes = [PartnerSignatureAuthentication, ApiKeyAuthentication, SessionAuthentication]
    required_scopes = {"GET": "partners:read"}
    pagination_class = NewestFirstPagination

    @extend_schema(summary="A partner's payouts, Connect status and orders still to be paid", operation_id="partner_payouts",
                   responses={200: inline_serializer("PartnerPayouts", {
                       "connect": serializers.DictField(), "awaiting": serializers.ListField(child=serializers.DictField()),
                       "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
                       "results": serializers.ListField(child=serializers.DictField())}), **api_errors(400, 401, 403, 404)})
    def get(self, request):
        partner, livemode = _partner_and_mode(request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(payouts_of(partner, livemode=livemode), request, view=self)
        response = paginator.get_paginated_response([payout_data(p) for p in page])
        account = ConnectAccount.objects.filter(partner=partner, livemode=livemode).first()
        reason = payout_hold_reason(partner=partner, account=account)
        now = timezone.now()
        response.data["connect"] = {
            "status": connect_status(account), "livemode": livemode,
            "account_id": account.stripe_account_id if account else None,
            "payouts_enabled": bool(account and account.payouts_enabled),
            "requirements_due": account.requirements_due if account else [], "held": reason or None}
        response.data["awaiting"] = [self._awaiting(o, reason=reason or (HOLD_DISPUTED if o.disputed_at else ""), now=now)
                                     for o in orders_awaiting_payout(partner, livemode=livemode)[:AWAITING_MAX]]
        return response

    @staticmethod
    def _awaiting(o, *, reason: str, now) -> dict:
        """An order still to be paid: amount_minor is what will be paid (the share less the share
        of any partial refund)."""
        return {"order_id": str(o.pk), "listing_id": str(o.listing_id), "amount_minor": order_payout_amount(o),
                "currency": o.currency, "payout_due_at": o.payout_due_at,
                "state": ("hold" if o.payout_due_at is None or o.payout_due_at > now else "held" if reason else "due"),
                "held_reason": reason or None}


class ConnectOnboardingView(APIView):
    authentication_classes = PartnerPayoutsView.authentication_classes
    required_scopes = {"POST": "partners:write"}

    @extend_schema(summary="A Stripe Account Link to onboard (or continue onboarding) the partner for payouts",
                   operation_id="partner_connect_onboarding", request=None,
                   responses={200: inline_serializer("ConnectOnboardingLink", {"url": serializers.URLField()}),
                              **api_errors(401, 403, 404, 502, 503)})
    def post(self, request):
        partner, livemode = _partner_and_mode(request)
        return Response({"url": connect_onboarding_link(partner=partner, livemode=livemode, actor=request.user)})
