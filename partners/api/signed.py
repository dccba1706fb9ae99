"""The signed partner API (/api/v1/partner/...): what a partner's own systems do with a partner
credential. Signed requests only (PartnerSignatureAuthentication; no API key, no session), by an
approved partner (partners.signing refuses any other), on that partner's own things only: its
record, its review trail, its partner-audience webhook deliveries."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from levqor.webhooks.api import DeliverySerializer
from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.replay import webhook_delivery_replay
from levqor.webhooks.selectors import webhook_deliveries_of
from partners.api.registry import (
    REVIEW_EVENTS,
    PartnerSerializer,
    PartnerUpdateSerializer,
    body_fields,
    review_events_body,
)
from partners.authentication import IsSignedPartner, PartnerSignatureAuthentication, partner_from_request
from partners.services.registry import OWNER_FIELDS, partner_update

PARTNER_AUDIENCE = WebhookEndpoint.Audience.PARTNER


class SignedPartnerView(APIView):
    """A view of the signed partner API: request.auth is the PartnerCredential that signed the
    request (of an approved partner), request.user the partner's owner."""

    authentication_classes = [PartnerSignatureAuthentication]
    permission_classes = [IsSignedPartner]
    renderer_classes = [JSONRenderer]  # machine to machine: no browsable page to render around a refusal
    # No API key reaches these views (only a partner signature authenticates here): no scope to ask.
    required_scopes = {"GET": "", "POST": "", "PATCH": ""}


class PartnerMeSerializer(serializers.Serializer):
    partner_id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField()
    key_id = serializers.CharField()
    previous_secret_expires_at = serializers.DateTimeField(allow_null=True)
    server_time = serializers.DateTimeField()


class SignedPartnerMeView(SignedPartnerView):
    """Signed: the partner whose credential signed the request, and changes to it."""

    @extend_schema(summary="Who am I: the signing partner and credential (a signed partner request)",
                   responses={200: PartnerMeSerializer, **api_errors(401, 403)})
    def get(self, request):
        partner, credential = partner_from_request(request), request.auth
        now = timezone.now()
        return Response(PartnerMeSerializer({
            "partner_id": partner.pk, "name": partner.name, "status": partner.status, "key_id": credential.key_id,
            "previous_secret_expires_at": credential.overlap_ends_at(now), "server_time": now}).data)

    @extend_schema(summary="Change my partner: name, email, webhook_url (its endpoint follows), metadata (replaced "
                           "whole) (a signed partner request)", request=PartnerUpdateSerializer,
                   responses={200: PartnerSerializer, **api_errors(400, 401, 403)}, operation_id="partner_signed_update")
    def patch(self, request):
        fields = body_fields(request, OWNER_FIELDS)  # never revenue_share: staff change it
        partner = partner_update(partner=partner_from_request(request), actor=request.user, **fields)
        return Response(PartnerSerializer(partner).data)


class SignedReviewEventsView(SignedPartnerView):
    @extend_schema(summary="My partner's review trail, newest first; by is owner, staff or system, never who "
                           "(a signed partner request)", responses={200: REVIEW_EVENTS, **api_errors(401, 403)},
                   operation_id="partner_signed_review_events")
    def get(self, request):
        return Response(review_events_body(partner_from_request(request), staff=False))


def _deliveries(request, **filters):
    """The signing partner's deliveries: those to its owner's partner-audience endpoints."""
    return webhook_deliveries_of(partner_from_request(request).owner, audience=PARTNER_AUDIENCE, **filters)


class SignedDeliveriesView(SignedPartnerView):
    @extend_schema(summary="My partner's webhook deliveries (partner events), newest first, with their status and "
                           "attempts (a signed partner request)",
                   parameters=[OpenApiParameter("status", str, enum=list(WebhookDelivery.Status.values)),
                               OpenApiParameter("event_type", str), OpenApiParameter("cursor", str),
                               OpenApiParameter("limit", int)],
                   responses={200: inline_serializer("PartnerDeliveryPage", {
                       "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
                       "results": DeliverySerializer(many=True)}), **api_errors(400, 401, 403)},
                   operation_id="partner_signed_deliveries")
    def get(self, request):
        params = request.query_params
        state = params.get("status") or None
        if state and state not in WebhookDelivery.Status.values:
            raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown status {state!r}.",
                           details={"errors": [{"field": "status", "message": "pending, delivered or failed"}]})
        deliveries = _deliveries(request, status=state, event_type=params.get("event_type") or None)
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class SignedDeliveryReplayView(SignedPartnerView):
    @extend_schema(summary="Send one of my partner's deliveries again (same message id and body); refused while its "
                           "endpoint is disabled (a signed partner request)", request=None,
                   responses={202: DeliverySerializer, **api_errors(401, 403, 404, 409)},
                   operation_id="partner_signed_delivery_replay")
    def post(self, request, delivery_id):
        delivery = _deliveries(request).filter(pk=delivery_id).first()
        if delivery is None:  # another partner's, an account-audience one, or none: not confirmed
            raise AppError(ErrorCode.NOT_FOUND, "No such delivery.", details={"delivery_id": str(delivery_id)})
        delivery = webhook_delivery_replay(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
