"""POST /api/v1/partners/<id>/review-complete: staff record a completed periodic review."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasScope, IsOperator
from levqor.errors import AppError, ErrorCode
from levqor.validation import request_validated
from partners.selectors import partner_live_get
from partners.services.reviews import partner_review_complete


class ReviewCompleteSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="What the review found. Required; kept in the trail.")


class PartnerReviewCompleteView(APIView):
    # Staff, or a key with admin:read (an operator's) and partners:write (a write).
    permission_classes = [IsAuthenticated, IsOperator, HasScope]
    required_scopes = {"POST": "partners:write"}

    @extend_schema(summary="Record a completed periodic review of an approved partner (operators)",
                   operation_id="partner_review_complete", request=ReviewCompleteSerializer,
                   responses=inline_serializer("PartnerReviewCompleted", {
                       "partner_id": serializers.UUIDField(), "status": serializers.CharField(),
                       "next_review_at": serializers.DateTimeField(),
                       "review_due_since": serializers.DateTimeField(allow_null=True),
                       "review_event": inline_serializer("PartnerReviewEventOut", {
                           "id": serializers.IntegerField(), "at": serializers.DateTimeField(),
                           "actor": serializers.EmailField(), "from_status": serializers.CharField(),
                           "to_status": serializers.CharField(), "reason": serializers.CharField()})}))
    def post(self, request, partner_id):
        partner = partner_live_get(partner_id)
        if partner is None:
            raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner_id)})
        reason = request_validated(ReviewCompleteSerializer, request)["reason"]
        event = partner_review_complete(partner=partner, actor=request.user, reason=reason)
        return Response({
            "partner_id": str(partner.pk), "status": partner.status, "next_review_at": partner.next_review_at,
            "review_due_since": partner.review_due_since,
            "review_event": {"id": event.pk, "at": event.at, "actor": request.user.email,
                             "from_status": event.from_status, "to_status": event.to_status, "reason": event.reason}})
