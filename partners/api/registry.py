"""The partner registry API: the old contract under /api/partners and the same under /api/v1/partners,
plus staff review. Every call needs the owner's key (partners:read / partners:write) or session,
or an operator (accounts.permissions.request_is_operator: a staff session, or a staff member's key
with admin:read); another account's partner is 404."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import OPERATOR_SCOPE, HasScope, IsOperator, request_is_operator
from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from levqor.validation import request_validated
from partners.models import Partner, PartnerReviewEvent
from partners.selectors import partner_live_for, partner_live_get
from partners.services.registry import OWNER_FIELDS, STAFF_FIELDS, partner_delete, partner_register, partner_update
from partners.services.status import TRANSITIONS, partner_status_change

READ, WRITE = "partners:read", "partners:write"
REGISTER_FIELDS = ("name", "email", "webhook_url", "revenue_share", "metadata")


class PartnerSerializer(serializers.ModelSerializer):
    """What anyone allowed to see a partner sees: never a secret, never who reviewed it."""

    revenue_share = serializers.FloatField()
    # A plain string in the schema (its values listed): an enum here would collide with jobs' "status".
    status = serializers.CharField(help_text="pending_approval, approved, rejected or suspended.")

    class Meta:
        model = Partner
        fields = ["id", "name", "email", "webhook_url", "revenue_share", "metadata", "status", "status_reason",
                  "verified_at", "next_review_at", "rating_avg", "rating_count", "created_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        body = super().to_representation(instance)
        body["rating_avg"] = float(instance.rating_avg) if instance.rating_avg is not None else None
        return body


class PartnerRegisterSerializer(serializers.Serializer):
    """The body of a registration (for the schema; the registry service checks it)."""

    name = serializers.CharField(max_length=200)
    email = serializers.EmailField()
    webhook_url = serializers.URLField(max_length=1024, help_text="https in production; must reach a public host.")
    revenue_share = serializers.FloatField(required=False, min_value=0, max_value=1,
                                           help_text="0..1; default the policy's (0.7).")
    metadata = serializers.DictField(required=False)


class PartnerRegisteredSerializer(PartnerSerializer):
    """The answer to a registration: the partner, and the secret of the webhook endpoint made at
    its webhook_url (the only time it is shown)."""

    webhook_endpoint_id = serializers.UUIDField(help_text="The webhook endpoint made at webhook_url.")
    webhook_secret = serializers.CharField(help_text="Verifies partner events (Standard Webhooks). Shown this once; "
                                                     "rotate it on /partners.")

    class Meta(PartnerSerializer.Meta):
        fields = [*PartnerSerializer.Meta.fields, "webhook_endpoint_id", "webhook_secret"]
        read_only_fields = fields


class PartnerUpdateSerializer(PartnerRegisterSerializer):
    name = serializers.CharField(max_length=200, required=False)
    email = serializers.EmailField(required=False)
    webhook_url = serializers.URLField(max_length=1024, required=False)
    revenue_share = serializers.FloatField(required=False, min_value=0, max_value=1, help_text="Staff only.")


class ReviewSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=sorted(TRANSITIONS))
    reason = serializers.CharField(max_length=500)


def body_fields(request, allowed) -> dict:
    """The JSON object's fields, refusing any this endpoint does not take (validation_failed by field)."""
    data = request.data
    if not isinstance(data, dict):
        raise AppError(ErrorCode.VALIDATION_FAILED, "The body must be a JSON object.",
                       details={"errors": [{"field": "body", "message": "Expected a JSON object."}]})
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The request did not pass validation.", details={"errors": [
            {"field": name, "message": f"{name!r} is not an accepted field."} for name in unknown]})
    return dict(data)


def _visible(request, partner_id) -> Partner:
    """The live partner, if the caller owns it or is staff; else 404 (others' ids are not confirmed)."""
    partner = partner_live_get(partner_id)
    if partner is None or not (partner.owner_id == request.user.pk or request_is_operator(request)):
        raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner_id)})
    return partner


def _operator_only(request, view) -> None:
    IsOperator().has_permission(request, view)  # refuses (403) anyone but an operator




_PAGE = inline_serializer("PartnerPage", {"next": serializers.URLField(allow_null=True),
                                          "previous": serializers.URLField(allow_null=True),
                                          "results": PartnerSerializer(many=True)})


def _register(request) -> Response:
    fields = body_fields(request, REGISTER_FIELDS)
    partner = partner_register(owner=request.user, name=fields.get("name"), email=fields.get("email"),
                               webhook_url=fields.get("webhook_url"), revenue_share=fields.get("revenue_share"),
                               metadata=fields.get("metadata"))
    endpoint = partner.webhook_endpoint
    partner.refresh_from_db()  # the policy may have approved it at once
    # The secret of the endpoint made at webhook_url, shown this once: it verifies partner events
    # (the first partner.verified among them); rotate it on /partners or the webhooks API.
    body = {**PartnerSerializer(partner).data, "webhook_endpoint_id": str(endpoint.pk),
            "webhook_secret": endpoint.secret}
    return Response(body, status=status.HTTP_201_CREATED,
                    headers={"Location": f"/api/v1/partners/{partner.pk}", "Cache-Control": "no-store"})


def _list(request, view) -> Response:
    _operator_only(request, view)
    status_filter = request.query_params.get("status")
    partners = Partner.objects.filter(deleted_at__isnull=True)
    if status_filter:
        if status_filter not in Partner.Status.values:
            raise AppError(ErrorCode.VALIDATION_FAILED, f"status must be one of {', '.join(Partner.Status.values)}.",
                           details={"errors": [{"field": "status", "message": "Not a partner status."}]})
        partners = partners.filter(status=status_filter)
    paginator = NewestFirstPagination()
    page = paginator.paginate_queryset(partners, request, view=view)
    return paginator.get_paginated_response(PartnerSerializer(page, many=True).data)


_LIST_PARAMS = [OpenApiParameter("status", enum=Partner.Status.values), OpenApiParameter("cursor", str),
                OpenApiParameter("limit", int)]


class PartnerCollectionView(APIView):
    """/api/v1/partners: register (POST), list for staff (GET)."""

    required_scopes = {"GET": OPERATOR_SCOPE, "POST": WRITE}

    @extend_schema(summary="List partners (staff: a staff session or an admin:read key)", parameters=_LIST_PARAMS,
                   responses={200: _PAGE, **api_errors(400, 401, 403)}, operation_id="partners_list")
    def get(self, request):
        return _list(request, self)

    @extend_schema(summary="Apply as a partner: one per account, pending approval", request=PartnerRegisterSerializer,
                   responses={201: PartnerRegisteredSerializer, **api_errors(400, 401, 403, 409)},
                   operation_id="partners_register")
    def post(self, request):
        return _register(request)


class PartnerMeView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(summary="My partner (404 when this account has none)",
                   responses={200: PartnerSerializer, **api_errors(401, 403, 404)})
    def get(self, request):
        partner = partner_live_for(request.user)
        if partner is None:
            raise AppError(ErrorCode.NOT_FOUND, "This account has no partner; apply with POST /api/v1/partners.")
        return Response(PartnerSerializer(partner).data)


class PartnerDetailView(APIView):
    required_scopes = {"GET": READ, "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(summary="One partner (its owner, or staff)", responses={200: PartnerSerializer, **api_errors(401, 403, 404)},
                   operation_id="partners_retrieve")
    def get(self, request, partner_id):
        return Response(PartnerSerializer(_visible(request, partner_id)).data)

    @extend_schema(summary="Change a partner: name, email, webhook_url, metadata (replaced whole); revenue_share "
                           "by staff only", request=PartnerUpdateSerializer,
                   responses={200: PartnerSerializer, **api_errors(400, 401, 403, 404)}, operation_id="partners_update")
    def patch(self, request, partner_id):
        partner = _visible(request, partner_id)
        fields = body_fields(request, (*OWNER_FIELDS, *STAFF_FIELDS))
        return Response(PartnerSerializer(partner_update(partner=partner, actor=request.user,
                                                         operator=request_is_operator(request), **fields)).data)

    @extend_schema(summary="Delete a partner (soft: its review trail stays; its endpoints are disabled)",
                   request=None, responses={204: None, **api_errors(401, 403, 404)}, operation_id="partners_delete")
    def delete(self, request, partner_id):
        partner_delete(partner=_visible(request, partner_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PartnerReviewView(APIView):
    # An operator (staff; a key must hold admin:read) making a write: a key needs partners:write too.
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Review a partner: approve, reject, suspend or reinstate, with a reason (staff)",
                   request=ReviewSerializer, responses={200: PartnerSerializer, **api_errors(400, 401, 403, 404, 409)})
    def post(self, request, partner_id):
        fields = request_validated(ReviewSerializer, request)
        partner = _visible(request, partner_id)
        partner_status_change(partner=partner, action=fields["action"], actor=request.user, reason=fields["reason"])
        partner.refresh_from_db()
        return Response(PartnerSerializer(partner).data)


REVIEW_EVENTS = inline_serializer("PartnerReviewEvents", {"data": inline_serializer(
    "PartnerReviewEvent", {"at": serializers.DateTimeField(), "from_status": serializers.CharField(),
                           "to_status": serializers.CharField(), "reason": serializers.CharField(),
                           "by": serializers.CharField(help_text="owner, staff or system (staff see the reviewer's "
                                                                 "email)")}, many=True)})


class PartnerReviewEventsView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(summary="A partner's review trail, newest first (the reviewer is named to staff only)",
                   responses={200: REVIEW_EVENTS, **api_errors(401, 403, 404)})
    def get(self, request, partner_id):
        partner = _visible(request, partner_id)
        return Response(review_events_body(partner, staff=request_is_operator(request)))


def review_events_body(partner: Partner, *, staff: bool) -> dict:
    """A partner's review trail as the API answers it, newest first; the reviewer named to staff only."""
    events = PartnerReviewEvent.objects.filter(partner=partner).select_related("actor")
    return {"data": [{"at": e.at, "from_status": e.from_status, "to_status": e.to_status, "reason": e.reason,
                      "by": _by(e, partner, staff)} for e in events]}


def _by(event: PartnerReviewEvent, partner: Partner, staff: bool) -> str:
    if event.actor_id is None:
        return "system"
    if event.actor_id == partner.owner_id:
        return "owner"
    return event.actor.email if staff else "staff"


# --- the old contract (/api/partners) ----------------------------------------------------------

class LegacyRegisterView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Register a partner (old Levqor contract)", request=PartnerRegisterSerializer,
                   responses={201: PartnerRegisteredSerializer, **api_errors(400, 401, 403, 409)},
                   operation_id="legacy_partners_register")
    def post(self, request):
        return _register(request)


class LegacyCollectionView(APIView):
    required_scopes = {"GET": OPERATOR_SCOPE}

    @extend_schema(summary="List partners (old Levqor contract; staff)", parameters=_LIST_PARAMS,
                   responses={200: _PAGE, **api_errors(400, 401, 403)}, operation_id="legacy_partners_list")
    def get(self, request):
        return _list(request, self)


class LegacyDetailView(PartnerDetailView):
    @extend_schema(summary="One partner (old Levqor contract)", responses={200: PartnerSerializer, **api_errors(401, 403, 404)},
                   operation_id="legacy_partners_retrieve")
    def get(self, request, partner_id):
        return super().get(request, partner_id)

    @extend_schema(summary="Change a partner (old Levqor contract)", request=PartnerUpdateSerializer,
                   responses={200: PartnerSerializer, **api_errors(400, 401, 403, 404)}, operation_id="legacy_partners_update")
    def patch(self, request, partner_id):
        return super().patch(request, partner_id)

    @extend_schema(summary="Delete a partner, soft (old Levqor contract)", request=None,
                   responses={204: None, **api_errors(401, 403, 404)}, operation_id="legacy_partners_delete")
    def delete(self, request, partner_id):
        return super().delete(request, partner_id)
