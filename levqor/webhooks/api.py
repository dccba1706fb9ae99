"""The webhook platform's API under /api/v1/webhooks/: endpoints, event types, deliveries with their
attempts, replay, and the account signing secret of job callbacks. Thin views: parse, call a
service, serialize. Every object is the caller's own (another account's is 404 not_found); a secret
appears only once, when it is made (and at GET secret, the documented way to read the callback one)."""

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from levqor.validation import request_validated
from levqor.webhooks import endpoints as services
from levqor.webhooks.delivery import signing_secret_for
from levqor.webhooks.events import webhook_event_types
from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.replay import webhook_deliveries_replay_failed, webhook_delivery_replay
from levqor.webhooks.selectors import webhook_deliveries_of, webhook_endpoints_of

READ, WRITE = "webhooks:read", "webhooks:write"
SCHEME = ("Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (v1, HMAC-SHA256 over "
          "id.timestamp.body)")


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "audience", "url", "description", "event_types", "enabled", "disabled_reason", "disabled_at",
                  "consecutive_failures", "created_at", "updated_at", "rotated_at"]


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=1024)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
    audience = serializers.ChoiceField(choices=WebhookEndpoint.Audience.choices, default="account")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=1024, required=False)
    event_types = serializers.ListField(child=serializers.CharField(max_length=64), required=False, allow_empty=True)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class RotateSerializer(serializers.Serializer):
    overlap_hours = serializers.FloatField(required=False, min_value=0, max_value=168)


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.SerializerMethodField()

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, obj) -> str:
        return self.context["secret"]


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    at = serializers.DateTimeField()
    url = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    succeeded = serializers.BooleanField()
    duration_ms = serializers.IntegerField()
    response_snippet = serializers.CharField()
    error = serializers.CharField()


class DeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.UUIDField(source="endpoint_id", allow_null=True)
    # Plain text in the schema: a "status" enum here would collide with the other APIs' "status" enums.
    status = serializers.CharField(help_text="pending, delivered or failed")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "msg_id", "endpoint", "url", "event_type", "status", "attempts", "next_attempt_at",
                  "last_status_code", "last_error", "replays", "created_at", "updated_at", "delivered_at"]


class DeliveryDetailSerializer(DeliverySerializer):
    # Every attempt, oldest first ("attempts" is their count).
    attempt_log = AttemptSerializer(source="attempt_rows", many=True, read_only=True)

    class Meta(DeliverySerializer.Meta):
        fields = [*DeliverySerializer.Meta.fields, "body", "attempt_log"]


class ReplayFailedSerializer(serializers.Serializer):
    endpoint = serializers.UUIDField(required=False)
    since = serializers.DateTimeField(required=False)






def _owned_endpoint(request, endpoint_id) -> WebhookEndpoint:
    endpoint = webhook_endpoints_of(request.user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such webhook endpoint.", details={"endpoint_id": str(endpoint_id)})
    return endpoint


def _owned_delivery(request, delivery_id) -> WebhookDelivery:
    delivery = webhook_deliveries_of(request.user).filter(pk=delivery_id).first()
    if delivery is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such webhook delivery.", details={"delivery_id": str(delivery_id)})
    return delivery


def _audience_param(request) -> str | None:
    audience = request.query_params.get("audience") or None
    if audience and audience not in WebhookEndpoint.Audience.values:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown audience {audience!r}.",
                       details={"errors": [{"field": "audience", "message": "account or partner"}]})
    return audience


class EndpointCollectionView(APIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(summary="List my webhook endpoints (never their secrets)", operation_id="webhook_endpoints_list",
                   parameters=[OpenApiParameter("audience", str, enum=["account", "partner"])],
                   responses=inline_serializer("WebhookEndpointList", {"data": EndpointSerializer(many=True)}))
    def get(self, request):
        endpoints = webhook_endpoints_of(request.user, audience=_audience_param(request))
        return Response({"data": EndpointSerializer(endpoints, many=True).data})

    @extend_schema(summary="Add a webhook endpoint; the answer shows its signing secret, once",
                   request=EndpointCreateSerializer, responses={201: EndpointWithSecretSerializer})
    def post(self, request):
        data = request_validated(EndpointCreateSerializer, request)
        endpoint = services.webhook_endpoint_create(owner=request.user, **data)
        return Response(EndpointWithSecretSerializer(endpoint, context={"secret": endpoint.secret}).data,
                        status=status.HTTP_201_CREATED, headers={"Location": f"/api/v1/webhooks/endpoints/{endpoint.pk}"})


class EndpointDetailView(APIView):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(summary="One of my webhook endpoints", responses=EndpointSerializer)
    def get(self, request, endpoint_id):
        return Response(EndpointSerializer(_owned_endpoint(request, endpoint_id)).data)

    @extend_schema(summary="Change an endpoint's URL, event types or description",
                   request=EndpointUpdateSerializer, responses=EndpointSerializer)
    def patch(self, request, endpoint_id):
        endpoint = _owned_endpoint(request, endpoint_id)
        data = request_validated(EndpointUpdateSerializer, request, partial=True)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(summary="Delete an endpoint with its deliveries", responses={204: None})
    def delete(self, request, endpoint_id):
        services.webhook_endpoint_delete(endpoint=_owned_endpoint(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="A new signing secret, shown once; the previous one also signs during the overlap "
                           "(24 h unless overlap_hours)",
                   request=RotateSerializer, responses=EndpointWithSecretSerializer)
    def post(self, request, endpoint_id):
        endpoint = _owned_endpoint(request, endpoint_id)
        data = request_validated(RotateSerializer, request)
        secret = services.webhook_endpoint_secret_rotate(endpoint=endpoint, overlap_hours=data.get("overlap_hours"))
        body = EndpointWithSecretSerializer(endpoint, context={"secret": secret}).data
        body["previous_secret_expires_at"] = endpoint.previous_secret_expires_at
        return Response(body)


class EndpointEnableView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Enable an endpoint again (its failure count starts from 0)", request=None,
                   responses=EndpointSerializer)
    def post(self, request, endpoint_id):
        endpoint = services.webhook_endpoint_enable(endpoint=_owned_endpoint(request, endpoint_id))
        return Response(EndpointSerializer(endpoint).data)


class EndpointDisableView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Stop sending to an endpoint", request=None, responses=EndpointSerializer)
    def post(self, request, endpoint_id):
        endpoint = services.webhook_endpoint_disable(endpoint=_owned_endpoint(request, endpoint_id))
        return Response(EndpointSerializer(endpoint).data)


class EventTypeListView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(summary="The event types an endpoint can subscribe to",
                   parameters=[OpenApiParameter("audience", str, enum=["account", "partner"])],
                   responses=inline_serializer("WebhookEventTypes", {"data": serializers.ListField(
                       child=serializers.DictField())}))
    def get(self, request):
        return Response({"data": [{"name": t.name, "description": t.description, "audiences": list(t.audiences)}
                                  for t in webhook_event_types(audience=_audience_param(request))]})


class DeliveryCollectionView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(summary="My webhook deliveries, newest first", operation_id="webhook_deliveries_list",
                   parameters=[OpenApiParameter("endpoint", str), OpenApiParameter("status", str,
                               enum=list(WebhookDelivery.Status.values)), OpenApiParameter("event_type", str),
                               OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
                   responses=inline_serializer("WebhookDeliveryPage", {
                       "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
                       "results": DeliverySerializer(many=True)}))
    def get(self, request):
        params = request.query_params
        endpoint = _owned_endpoint(request, _uuid_param(params, "endpoint")) if params.get("endpoint") else None
        state = params.get("status") or None
        if state and state not in WebhookDelivery.Status.values:
            raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown status {state!r}.",
                           details={"errors": [{"field": "status", "message": "pending, delivered or failed"}]})
        deliveries = webhook_deliveries_of(request.user, endpoint=endpoint, status=state,
                                           event_type=params.get("event_type") or None)
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


def _uuid_param(params, name: str):
    try:
        return uuid.UUID(params[name])
    except ValueError as exc:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"{name} must be an id.",
                       details={"errors": [{"field": name, "message": "Not a valid id."}]}) from exc


class DeliveryDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(summary="One delivery with its body and every attempt", responses=DeliveryDetailSerializer)
    def get(self, request, delivery_id):
        delivery = _owned_delivery(request, delivery_id)
        return Response(DeliveryDetailSerializer(delivery).data)


class DeliveryReplayView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Send a delivery again (same message id and body); refused while its endpoint is "
                           "disabled", request=None, responses={202: DeliverySerializer})
    def post(self, request, delivery_id):
        delivery = webhook_delivery_replay(delivery=_owned_delivery(request, delivery_id))
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class DeliveryReplayFailedView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Send again every failed delivery of mine (optionally of one endpoint, since a time)",
                   request=ReplayFailedSerializer,
                   responses={202: inline_serializer("WebhookReplayed", {"replayed": serializers.IntegerField()})})
    def post(self, request):
        data = request_validated(ReplayFailedSerializer, request)
        endpoints = [_owned_endpoint(request, data["endpoint"])] if data.get("endpoint") else None
        count = webhook_deliveries_replay_failed(owner=request.user, endpoints=endpoints, since=data.get("since"))
        return Response({"replayed": count}, status=status.HTTP_202_ACCEPTED)


class SigningSecretView(APIView):
    # The scope it always had (it was jobs' view): callback receivers holding a jobs key read it.
    required_scopes = {"GET": "jobs:read"}

    @extend_schema(summary="The secret that signs my job callbacks (Standard Webhooks)",
                   responses=inline_serializer("WebhookSecret", {"secret": serializers.CharField(),
                                                                 "scheme": serializers.CharField()}))
    def get(self, request):
        return Response({"secret": signing_secret_for(owner=request.user).secret, "scheme": SCHEME})


class SigningSecretRotateView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="A new job-callback signing secret, shown once; the previous one also signs during "
                           "the overlap (24 h unless overlap_hours)", request=RotateSerializer,
                   responses=inline_serializer("WebhookSecretRotated", {
                       "secret": serializers.CharField(), "scheme": serializers.CharField(),
                       "previous_secret_expires_at": serializers.DateTimeField(allow_null=True)}))
    def post(self, request):
        data = request_validated(RotateSerializer, request)
        secret = services.webhook_signing_secret_rotate(owner=request.user, overlap_hours=data.get("overlap_hours"))
        expires = signing_secret_for(owner=request.user).previous_secret_expires_at
        return Response({"secret": secret, "scheme": SCHEME, "previous_secret_expires_at": expires})
