"""Partner credentials, managed by the partner's owner (session, or the owner's API key with
partners:read / partners:write). The signed partner API they authenticate is partners.api.signed."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.validation import request_validated
from partners.models import Partner, PartnerCredential
from partners.selectors import partner_live_for
from partners.services.credentials import (
    ROTATION_OVERLAP_MAX_SECONDS,
    ROTATION_OVERLAP_SECONDS,
    credential_create,
    credential_get_for,
    credential_list_for,
    credential_revoke,
    credential_rotate,
)


class CredentialSerializer(serializers.ModelSerializer):
    """A credential's metadata: never its secret."""

    status = serializers.SerializerMethodField()
    previous_secret_expires_at = serializers.SerializerMethodField()

    class Meta:
        model = PartnerCredential
        fields = ["key_id", "name", "status", "created_at", "rotated_at", "previous_secret_expires_at", "last_used_at",
                  "revoked_at"]

    def get_status(self, credential) -> str:
        return "active" if credential.is_live else "revoked"

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_previous_secret_expires_at(self, credential):
        ends = credential.overlap_ends_at() if credential.is_live else None
        return serializers.DateTimeField().to_representation(ends) if ends else None


class CredentialWithSecretSerializer(CredentialSerializer):
    """A credential just made or rotated: the only answer that holds its secret."""

    secret = serializers.SerializerMethodField()

    class Meta(CredentialSerializer.Meta):
        fields = [*CredentialSerializer.Meta.fields, "secret"]

    def get_secret(self, credential) -> str:
        return self.context["secret"]


class CredentialCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class CredentialRotateSerializer(serializers.Serializer):
    overlap_seconds = serializers.IntegerField(min_value=0, max_value=ROTATION_OVERLAP_MAX_SECONDS,
                                               default=ROTATION_OVERLAP_SECONDS)


def _my_partner(request) -> Partner:
    partner = partner_live_for(request.user)
    if partner is None:
        raise AppError(ErrorCode.NOT_FOUND, "This account has no partner: apply at /partners first.")
    return partner


def _my_credential(request, key_id: str) -> PartnerCredential:
    credential = credential_get_for(_my_partner(request), key_id=key_id)
    if credential is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such credential.", details={"key_id": key_id})
    return credential


class CredentialCollectionView(APIView):
    required_scopes = {"GET": "partners:read", "POST": "partners:write"}

    @extend_schema(summary="List my partner's credentials (never their secrets)",
                   responses={200: CredentialSerializer(many=True), **api_errors(401, 403, 404)})
    def get(self, request):
        credentials = credential_list_for(_my_partner(request))
        return Response({"results": CredentialSerializer(credentials, many=True).data})

    @extend_schema(summary="Create a credential for the signed partner API; the answer shows the secret, once",
                   request=CredentialCreateSerializer,
                   responses={201: CredentialWithSecretSerializer, **api_errors(400, 401, 403, 404, 409)})
    def post(self, request):
        data = request_validated(CredentialCreateSerializer, request)
        created = credential_create(partner=_my_partner(request), name=data["name"], actor=request.user)
        body = CredentialWithSecretSerializer(created.credential, context={"secret": created.secret}).data
        return Response(body, status=status.HTTP_201_CREATED,
                        headers={"Cache-Control": "no-store",
                                 "Location": f"/api/v1/partners/me/credentials/{created.credential.key_id}"})


class CredentialRotateView(APIView):
    required_scopes = {"POST": "partners:write"}

    @extend_schema(summary="Rotate a credential's secret; the old one verifies until the overlap ends",
                   request=CredentialRotateSerializer,
                   responses={200: CredentialWithSecretSerializer, **api_errors(400, 401, 403, 404, 409)})
    def post(self, request, key_id):
        data = request_validated(CredentialRotateSerializer, request)
        created = credential_rotate(credential=_my_credential(request, key_id), overlap_seconds=data["overlap_seconds"],
                                    actor=request.user)
        body = CredentialWithSecretSerializer(created.credential, context={"secret": created.secret}).data
        return Response(body, headers={"Cache-Control": "no-store"})


class CredentialDetailView(APIView):
    required_scopes = {"GET": "partners:read", "DELETE": "partners:write"}

    @extend_schema(summary="One of my partner's credentials", responses={200: CredentialSerializer, **api_errors(401, 403, 404)})
    def get(self, request, key_id):
        return Response(CredentialSerializer(_my_credential(request, key_id)).data)

    @extend_schema(summary="Revoke a credential: it stops verifying at once", request=None,
                   responses={200: CredentialSerializer, **api_errors(401, 403, 404)})
    def delete(self, request, key_id):
        credential = credential_revoke(credential=_my_credential(request, key_id), actor=request.user)
        return Response(CredentialSerializer(credential).data)
