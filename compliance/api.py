"""The old service's compliance endpoints, kept for API clients: accept terms, marketing
consent (double opt-in), its confirmation and unsubscribe."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasScope
from compliance import selectors, services
from compliance.models import TermsVersion
from levqor.client_ip import client_ip
from levqor.errors import AppError, ErrorCode
from levqor.validation import request_validated

_FIELDS = ("terms_accepted_at", "terms_version", "terms_accepted_ip", "marketing_consent", "marketing_consent_at",
           "marketing_consent_ip", "marketing_double_opt_in", "marketing_double_opt_in_at")
ComplianceFields = inline_serializer("UserComplianceFields", {
    "ok": serializers.BooleanField(), "user_id": serializers.UUIDField(),
    "terms_accepted_at": serializers.DateTimeField(allow_null=True),
    "terms_version": serializers.CharField(allow_null=True),
    "terms_accepted_ip": serializers.IPAddressField(allow_null=True),
    "marketing_consent": serializers.BooleanField(),
    "marketing_consent_at": serializers.DateTimeField(allow_null=True),
    "marketing_consent_ip": serializers.IPAddressField(allow_null=True),
    "marketing_double_opt_in": serializers.BooleanField(),
    "marketing_double_opt_in_at": serializers.DateTimeField(allow_null=True)})


def _body(user) -> dict:
    fields = selectors.user_compliance_fields(user)
    for name in ("terms_accepted_at", "marketing_consent_at", "marketing_double_opt_in_at"):
        if fields[name] is not None:
            fields[name] = serializers.DateTimeField().to_representation(fields[name])
    return {"ok": True, "user_id": str(user.pk), **{name: fields[name] for name in _FIELDS}}


def _own_user(request, user_id):
    """Only the key's own user: another id is 404 (ids of others are not confirmed)."""
    if str(user_id) != str(request.user.pk):
        raise AppError(ErrorCode.NOT_FOUND, "No such user.", details={"user_id": str(user_id)})
    return request.user


class AcceptTermsSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=50, required=False, help_text="Default: the current version.")


class OwnUserView(APIView):
    permission_classes = [IsAuthenticated, HasScope]
    required_scopes = {"POST": "users:write"}


class AcceptTermsView(OwnUserView):
    @extend_schema(request=AcceptTermsSerializer, responses=ComplianceFields,
                   summary="Accept the terms of service (old Levqor contract)")
    def post(self, request, user_id):
        user = _own_user(request, user_id)
        data = request_validated(AcceptTermsSerializer, request)
        version = None
        if data.get("version"):
            version = TermsVersion.objects.filter(version=data["version"]).first()
            current = selectors.terms_current()
            if version is None or current is None or version.published_at > TermsVersion.objects.get(
                    pk=current.id).published_at:
                raise AppError(ErrorCode.VALIDATION_FAILED, "No published terms version has this name.",
                               details={"errors": [{"field": "version", "message": "Unknown or unpublished version."}]})
        try:
            services.terms_accept(user=user, version=version, ip=client_ip(request),
                                  user_agent=request.headers.get("User-Agent", ""))
        except services.NoTermsPublished:
            raise AppError(ErrorCode.NO_TERMS_PUBLISHED, "There are no published terms to accept.") from None
        return Response(_body(user))


class MarketingConsentView(OwnUserView):
    @extend_schema(request=None, responses=ComplianceFields,
                   summary="Ask for marketing emails: sends the double opt-in confirmation email")
    def post(self, request, user_id):
        user = _own_user(request, user_id)
        services.marketing_opt_in_request(user=user, source="api", ip=client_ip(request),
                                          user_agent=request.headers.get("User-Agent", ""))
        return Response(_body(user))


class MarketingUnsubscribeView(OwnUserView):
    @extend_schema(request=None, responses=ComplianceFields, summary="Stop marketing emails, at once")
    def post(self, request, user_id):
        user = _own_user(request, user_id)
        services.marketing_unsubscribe(user=user, source="api", ip=client_ip(request),
                                       user_agent=request.headers.get("User-Agent", ""))
        return Response(_body(user))


_TOKEN_ERRORS = {"unknown": ErrorCode.TOKEN_UNKNOWN, "used": ErrorCode.TOKEN_USED, "expired": ErrorCode.TOKEN_EXPIRED}


class ConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class MarketingConfirmView(APIView):
    # The emailed token is the credential: no key, no session (so no CSRF either).
    authentication_classes: list = []
    permission_classes = [AllowAny]
    required_scopes = {"POST": ""}  # no key involved

    @extend_schema(request=ConfirmSerializer, responses=ComplianceFields,
                   summary="Confirm the marketing double opt-in with the emailed token (old Levqor contract)")
    def post(self, request):
        data = request_validated(ConfirmSerializer, request)
        try:
            consent = services.marketing_opt_in_confirm(raw_token=data["token"], source="api", ip=client_ip(request),
                                                        user_agent=request.headers.get("User-Agent", ""))
        except services.OptInTokenInvalid as exc:
            raise AppError(_TOKEN_ERRORS[exc.reason], "The confirmation token is unknown, used or expired.",
                           details={"reason": exc.reason}) from None
        return Response(_body(consent.user))
