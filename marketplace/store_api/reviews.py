"""GET /api/v1/marketplace/listings/<id>/reviews (public, newest first, paginated) and POST (a buyer
reviews the listing once: stars 1..5, body up to 2000 characters)."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import HasScope
from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from levqor.validation import request_validated
from marketplace.models import Listing, ListingReview
from marketplace.selectors_listings import listing_public_get
from marketplace.services.reviews import BODY_MAX_CHARS, listing_review_create


class ListingReviewInSerializer(serializers.Serializer):
    stars = serializers.IntegerField(min_value=1, max_value=5, help_text="1 to 5.")
    body = serializers.CharField(required=False, allow_blank=True, max_length=BODY_MAX_CHARS, default="",
                                 trim_whitespace=True)


class ListingReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = ListingReview
        fields = ["id", "stars", "body", "created_at"]


class ListingRatingAfterReviewSerializer(serializers.ModelSerializer):
    class Meta:
        model = Listing
        fields = ["rating_avg", "rating_count"]


def listing_published(listing_id) -> Listing:
    """The public listing (published, its partner approved and not deleted): a suspended or deleted
    partner's listing is not reviewed nor are its reviews shown, as it is not in the marketplace."""
    listing = listing_public_get(listing_id=listing_id)
    if listing is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such listing.", details={"listing_id": str(listing_id)})
    return listing


class ListingReviewsView(APIView):
    required_scopes = {"GET": "", "POST": "marketplace:write"}

    def get_permissions(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return [AllowAny()]
        return [IsAuthenticated(), HasScope()]

    @extend_schema(summary="A published listing's reviews, newest first (public)", operation_id="listing_reviews_list",
                   auth=[], responses={200: inline_serializer("ListingReviewPage", {
                       "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
                       "results": ListingReviewSerializer(many=True)}), **api_errors(400, 404)})
    def get(self, request, listing_id):
        listing = listing_published(listing_id)
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(ListingReview.objects.filter(listing=listing), request, view=self)
        return paginator.get_paginated_response(ListingReviewSerializer(page, many=True).data)

    @extend_schema(summary="Review a listing I installed (once): 1 to 5 stars and an optional text",
                   operation_id="listing_review_create", request=ListingReviewInSerializer,
                   responses={201: inline_serializer("ListingReviewCreated", {
                       "review": ListingReviewSerializer(), "listing": ListingRatingAfterReviewSerializer()}),
                       **api_errors(400, 401, 403, 404, 409)})
    def post(self, request, listing_id):
        listing = listing_published(listing_id)
        data = request_validated(ListingReviewInSerializer, request)
        review = listing_review_create(user=request.user, listing=listing, stars=data["stars"], body=data["body"])
        return Response({"review": ListingReviewSerializer(review).data,
                         "listing": ListingRatingAfterReviewSerializer(listing).data},
                        status=status.HTTP_201_CREATED)
