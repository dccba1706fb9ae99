"""Keys API: an owner's keys, managed by any of the owner's keys (or the owner signed in).

No scope is needed to manage keys, but a key can never hand out more than it holds: a new key's
scopes stay within the acting key's, a key may rotate only keys whose scopes it holds itself
(rotation returns the successor's raw key), and a test-mode key touches only test-mode keys."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.models import DEFAULT_SCOPES, ApiKey
from accounts.permissions import request_api_key
from accounts.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeyRotatedSerializer,
    ApiKeyRotateSerializer,
    ApiKeySerializer,
    api_errors,
)
from accounts.services.keys import ApiKeyNotUsable, api_key_create, api_key_revoke, api_key_rotate
from levqor.client_ip import client_ip
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from levqor.validation import request_validated

# Managing keys needs no scope beyond being one of the owner's keys (see the module's docstring).
_OWNER_ONLY = {"GET": "", "POST": ""}


def _owned_key(request, key_id) -> ApiKey:
    api_key = selectors.api_key_get_for(request.user, key_id=key_id)
    if api_key is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such API key.", details={"key_id": str(key_id)})
    return api_key


def _may_hand_out(acting: ApiKey | None, *, scopes, livemode: bool) -> None:
    """Refuse a key (new, or the successor of a rotation) wider than the acting key."""
    if acting is None:  # the owner signed in: their own keys, any scope
        return
    missing = [scope for scope in scopes if scope not in acting.scopes]
    if missing:
        raise AppError(ErrorCode.INSUFFICIENT_SCOPE, "A key cannot hand out scopes it does not hold: "
                       f"this one lacks {', '.join(missing)}.",
                       details={"missing_scopes": missing, "key_scopes": list(acting.scopes)})
    if livemode and not acting.livemode:
        raise AppError(ErrorCode.PERMISSION_DENIED, "A test-mode key can only manage test-mode keys.",
                       details={"field": "livemode"})




class ApiKeyCollectionView(APIView):
    required_scopes = _OWNER_ONLY

    @extend_schema(summary="List my API keys (metadata only, never the keys themselves)",
                   parameters=[OpenApiParameter("cursor", str), OpenApiParameter("limit", int)],
                   responses={200: inline_serializer("ApiKeyPage", {
                       "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
                       "results": ApiKeySerializer(many=True)}), **api_errors(401)})
    def get(self, request):
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(selectors.api_key_list_for(request.user), request, view=self)
        return paginator.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(summary="Create an API key; the answer shows the raw key, once",
                   request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer, **api_errors(400, 401, 403)})
    def post(self, request):
        data = request_validated(ApiKeyCreateSerializer, request)
        acting = request_api_key(request)
        livemode = data.get("livemode", acting.livemode if acting else True)
        scopes = data.get("scopes")
        if scopes is None:
            scopes = [s for s in DEFAULT_SCOPES if acting is None or s in acting.scopes]
            if not scopes:
                raise AppError(ErrorCode.VALIDATION_FAILED, "Name the scopes of the new key.",
                               details={"errors": [{"field": "scopes", "message": "This field is required."}]})
        _may_hand_out(acting, scopes=scopes, livemode=livemode)
        created = api_key_create(
            owner=request.user, name=data["name"], livemode=livemode, scopes=scopes,
            expires_at=data.get("expires_at"), actor=request.user, ip=client_ip(request),
            details={"via": "api", "by_key": str(acting.pk) if acting else None})
        body = ApiKeyCreatedSerializer(created.api_key, context={"raw_key": created.raw_key}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": f"/api/v1/keys/{created.api_key.pk}"})


class ApiKeyRotateView(APIView):
    required_scopes = _OWNER_ONLY

    @extend_schema(summary="Rotate a key: a new key now, the old one stops when the grace period ends",
                   request=ApiKeyRotateSerializer,
                   responses={201: ApiKeyRotatedSerializer, **api_errors(400, 401, 403, 404, 409)})
    def post(self, request, key_id):
        data = request_validated(ApiKeyRotateSerializer, request)
        api_key = _owned_key(request, key_id)
        acting = request_api_key(request)
        _may_hand_out(acting, scopes=api_key.scopes, livemode=api_key.livemode)
        try:
            created = api_key_rotate(api_key=api_key, grace_seconds=data["grace_seconds"],
                                     actor=request.user, ip=client_ip(request),
                                     details={"via": "api", "by_key": str(acting.pk) if acting else None})
        except ApiKeyNotUsable as exc:
            raise AppError(ErrorCode.KEY_NOT_ACTIVE, "This key is revoked or expired: create a new one instead.",
                           details={"key_id": str(key_id)}) from exc
        body = ApiKeyRotatedSerializer(created.api_key, context={"raw_key": created.raw_key}).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": f"/api/v1/keys/{created.api_key.pk}"})


class ApiKeyRevokeView(APIView):
    required_scopes = _OWNER_ONLY

    @extend_schema(summary="Revoke a key: it stops working at once, everywhere",
                   request=None, responses={200: ApiKeySerializer, **api_errors(401, 403, 404)})
    def post(self, request, key_id):
        api_key = _owned_key(request, key_id)
        acting = request_api_key(request)
        _may_hand_out(acting, scopes=[], livemode=api_key.livemode)
        api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request),
                       details={"via": "api", "by_key": str(acting.pk) if acting else None})
        return Response(ApiKeySerializer(api_key).data)
