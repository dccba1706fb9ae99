"""Ratings and reports of partners: thin DRF views that parse, call a service and serialize.

Any signed-in user or API key may rate and report an approved partner (partners:write; reading
one's own rating partners:read). A partner that is not approved, or deleted, is not found for
anyone but operators; the reports of a partner are for operators only (staff: a staff session, or a
staff member's key with admin:read)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsOperator, request_is_operator
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from levqor.validation import request_validated
from partners.models import Partner, PartnerRating, PartnerReport
from partners.selectors import partner_live_get
from partners.services.ratings import partner_rate, partner_rating_delete, partner_rating_of
from partners.services.reports import REASON_MAX, REASON_MIN, partner_report


def partner_visible(request, partner_id) -> Partner:
    """The partner, if this caller may see it: approved and live, or any live one for operators; else 404."""
    partner = partner_live_get(partner_id)
    if partner is None or not (partner.is_approved or request_is_operator(request)):
        raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner_id)})
    return partner


class RatingInSerializer(serializers.Serializer):
    stars = serializers.IntegerField(min_value=1, max_value=5)

    def to_internal_value(self, data):
        # A JSON true is no number of stars (DRF's IntegerField would read it as 1).
        if isinstance(data, dict) and isinstance(data.get("stars"), bool | float):
            raise serializers.ValidationError({"stars": ["Must be an integer from 1 to 5."]})
        return super().to_internal_value(data)


class PartnerRatingSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="pk")
    rating_avg = serializers.DecimalField(max_digits=3, decimal_places=2, coerce_to_string=False, allow_null=True)
    rating_count = serializers.IntegerField()


class RatingSerializer(serializers.ModelSerializer):
    partner = PartnerRatingSummarySerializer()

    class Meta:
        model = PartnerRating
        fields = ["stars", "created_at", "updated_at", "partner"]


class ReportInSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=REASON_MIN, max_length=REASON_MAX)


class ReportSerializer(serializers.ModelSerializer):
    partner_id = serializers.UUIDField()
    # Plain text in the schema: a "status" enum here would collide with the jobs' Status enum.
    status = serializers.CharField(help_text="open, upheld or dismissed.")
    reporter = serializers.SerializerMethodField()
    reviewed_by = serializers.SerializerMethodField()

    class Meta:
        model = PartnerReport
        fields = ["id", "partner_id", "reporter", "reason", "status", "created_at", "reviewed_at", "reviewed_by",
                  "review_note"]

    def get_reporter(self, report) -> str | None:
        return report.reporter.email if report.reporter_id else None

    def get_reviewed_by(self, report) -> str | None:
        return report.reviewed_by.email if report.reviewed_by_id else None


class MyReportSerializer(ReportSerializer):
    class Meta(ReportSerializer.Meta):
        fields = ["id", "partner_id", "reason", "status", "created_at"]


class PartnerRatingView(APIView):
    required_scopes = {"GET": "partners:read", "PUT": "partners:write", "DELETE": "partners:write"}

    @extend_schema(responses=RatingSerializer, summary="My rating of a partner (404 when I have not rated it)",
                   operation_id="partner_rating_get")
    def get(self, request, partner_id):
        partner = partner_visible(request, partner_id)
        rating = partner_rating_of(partner=partner, user=request.user)
        if rating is None:
            raise AppError(ErrorCode.NOT_FOUND, "You have not rated this partner.",
                           details={"partner_id": str(partner.pk)})
        rating.partner = partner
        return Response(RatingSerializer(rating).data)

    @extend_schema(request=RatingInSerializer, responses=RatingSerializer, operation_id="partner_rating_put",
                   summary="Rate an approved partner 1 to 5, or change my rating; answers the new average")
    def put(self, request, partner_id):
        partner = partner_visible(request, partner_id)
        stars = request_validated(RatingInSerializer, request)["stars"]
        rating = partner_rate(partner=partner, user=request.user, stars=stars)
        return Response(RatingSerializer(rating).data)

    @extend_schema(responses={204: None}, summary="Withdraw my rating of a partner", operation_id="partner_rating_delete")
    def delete(self, request, partner_id):
        partner = partner_visible(request, partner_id)
        partner_rating_delete(partner=partner, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)




class PartnerReportsView(APIView):
    required_scopes = {"GET": "partners:read", "POST": "partners:write"}

    def get_permissions(self):
        permissions = super().get_permissions()
        return [*permissions, IsOperator()] if self.request.method in ("GET", "HEAD") else permissions

    @extend_schema(responses=inline_serializer("PartnerReportPage", {
        "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
        "results": ReportSerializer(many=True)}), operation_id="partner_reports_list",
        summary="A partner's reports, newest first (operators: staff or admin:read keys)")
    def get(self, request, partner_id):
        partner = partner_visible(request, partner_id)
        reports = PartnerReport.objects.filter(partner=partner).select_related("reporter", "reviewed_by")
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(reports, request, view=self)
        return paginator.get_paginated_response(ReportSerializer(page, many=True).data)

    @extend_schema(request=ReportInSerializer, responses={201: MyReportSerializer}, operation_id="partner_report_create",
                   summary="Report an approved partner, with a reason (one open report per partner)")
    def post(self, request, partner_id):
        partner = partner_visible(request, partner_id)
        reason = request_validated(ReportInSerializer, request)["reason"]
        report = partner_report(partner=partner, reporter=request.user, reason=reason)
        return Response(MyReportSerializer(report).data, status=status.HTTP_201_CREATED)
