"""Listings: the public catalogue (anyone reads it, no key needed), and a partner's own listings
(created, changed, delisted and relisted with the partner's signed credentials or its owner's key
or session). Under /api/v1/marketplace/listings and, for the old contract, /api/marketplace/listings.

What a caller sees of a listing: everyone the public fields; its partner also `status`,
`status_reason` and `endpoint`; staff `status` and `status_reason`. The signing secret is in the
create answer only."""

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiKeyAuthentication
from accounts.permissions import HasScope, request_is_operator
from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.money import minor_display
from marketplace.models import Listing
from marketplace.selectors_listings import listing_of_partner, listing_public_get, listings_of_partner, listings_public
from marketplace.services.listing_checks import LISTING_FIELDS
from marketplace.services.listings import (
    listing_create,
    listing_delist,
    listing_relist,
    listing_secret_rotate,
    listing_update,
)
from partners.api.registry import body_fields
from partners.authentication import PartnerSignatureAuthentication, partner_from_request
from partners.models import Partner
from partners.selectors import partner_live_for

READ, WRITE = "partners:read", "partners:write"
LIMIT_DEFAULT, LIMIT_MAX = 20, 100
OFFSET_MAX = 10_000_000
CREATE_FIELDS = ("partner_id", *LISTING_FIELDS)


class PublicReads(BasePermission):
    """Reads are public; anything else needs a caller (a partner signature, a key or a session)."""

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_authenticated)


class StoreView(APIView):
    # A key first (its 401 challenge is the one documented), then a partner's signature, then a session.
    authentication_classes = [ApiKeyAuthentication, PartnerSignatureAuthentication, SessionAuthentication]
    permission_classes = [PublicReads, HasScope]


# --- what a listing looks like --------------------------------------------------------------------

def listing_body(listing: Listing, *, own: bool = False, staff: bool = False) -> dict:
    """The listing as the API answers it; `own`: its partner is asking (status, endpoint)."""
    partner = listing.partner
    body = {
        "id": str(listing.pk), "slug": listing.slug, "workflow": listing.workflow_name, "name": listing.name,
        "category": listing.category, "price": minor_display(listing.amount_minor, listing.currency),
        "amount_minor": listing.amount_minor, "currency": listing.currency, "description": listing.description,
        "metadata": listing.metadata, "input_schema": listing.input_schema,
        "partner": {"id": str(partner.pk), "name": partner.name, "verified": partner.verified_at is not None},
        "downloads": listing.downloads,
        "rating": {"average": float(listing.rating_avg) if listing.rating_avg is not None else None,
                   "count": listing.rating_count},
        "created_at": listing.created_at, "published_at": listing.published_at,
    }
    if own or staff:
        body["status"], body["status_reason"] = listing.status, listing.status_reason
    if own:
        body["endpoint"] = listing.endpoint
    return body


class ListingSerializer(serializers.Serializer):
    """For the schema: what listing_body answers."""

    id = serializers.UUIDField()
    slug = serializers.SlugField()
    workflow = serializers.CharField(help_text="The workflow a buyer runs: partner.<slug>.")
    name = serializers.CharField()
    category = serializers.ChoiceField(choices=Listing.Category.values)
    price = serializers.CharField(help_text='Major units as a string, e.g. "9.99"; "0.00" is free.')
    amount_minor = serializers.IntegerField()
    currency = serializers.CharField(help_text="Lower-case ISO 4217 code.")
    description = serializers.CharField()
    metadata = serializers.DictField()
    input_schema = serializers.DictField(help_text="JSON Schema (2020-12) of a run's payload.")
    partner = inline_serializer("ListingPartner", {"id": serializers.UUIDField(), "name": serializers.CharField(),
                                                   "verified": serializers.BooleanField()})
    downloads = serializers.IntegerField()
    rating = inline_serializer("ListingRating", {"average": serializers.FloatField(allow_null=True),
                                                 "count": serializers.IntegerField()})
    created_at = serializers.DateTimeField()
    published_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(required=False, help_text="To its partner and staff: pending_review, published, "
                                                             "rejected or delisted.")
    status_reason = serializers.CharField(required=False, help_text="To its partner and staff.")
    endpoint = serializers.URLField(required=False, help_text="To its partner only.")


class ListingCreatedSerializer(ListingSerializer):
    signing_secret = serializers.CharField(help_text="Verifies Levqor's calls to the endpoint (Standard Webhooks). "
                                                     "Shown this once.")


class ListingWriteSerializer(serializers.Serializer):
    """The body of a create or change (for the schema; the listing service checks it)."""

    partner_id = serializers.UUIDField(required=False, help_text="Create only; the caller's partner when given.")
    name = serializers.CharField(max_length=200)
    category = serializers.ChoiceField(choices=Listing.Category.values)
    price = serializers.CharField(required=False, help_text='Major units, 0 to 999.99 (policy), e.g. "9.99".')
    amount_minor = serializers.IntegerField(required=False, help_text="Or the price in minor units.")
    currency = serializers.CharField(required=False, help_text="3 letters; default usd.")
    description = serializers.CharField(required=False, max_length=5000)
    metadata = serializers.DictField(required=False)
    input_schema = serializers.DictField(help_text='A JSON Schema with "type": "object".')
    endpoint = serializers.URLField(help_text="https; not under a policy-forbidden path.")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, max_length=500)


PAGE = inline_serializer("ListingPage", {"data": ListingSerializer(many=True), "total": serializers.IntegerField(),
                                         "limit": serializers.IntegerField(), "offset": serializers.IntegerField()})
LIST_PARAMS = [OpenApiParameter("category", enum=Listing.Category.values),
               OpenApiParameter("partner", uuid.UUID, description="A partner's id."),
               OpenApiParameter("verified_only", bool, description="true: verified partners only."),
               OpenApiParameter("limit", int, description=f"1 to {LIMIT_MAX}; default {LIMIT_DEFAULT}."),
               OpenApiParameter("offset", int, description=f"0 to {OFFSET_MAX}.")]


# --- helpers --------------------------------------------------------------------------------------

def _bad(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def page_params(request, errors: list) -> tuple[int, int]:
    """limit (1..100, default 20) and offset (0..OFFSET_MAX, default 0) from the query; out of range
    is a 400 naming the field (a huge offset reached the database: a 500)."""
    def integer(name, default, low, high):
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw) if len(raw) <= 20 else None  # no 4300-digit int() on a query string
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            errors.append(_bad(name, f"An integer from {low}{f' to {high}' if high else ' up'}."))
            return default
        return value
    return integer("limit", LIMIT_DEFAULT, 1, LIMIT_MAX), integer("offset", 0, 0, OFFSET_MAX)


def _list_filters(request) -> tuple[dict, int, int]:
    params, errors, filters = request.query_params, [], {}
    category = params.get("category")
    if category:
        if category not in Listing.Category.values:
            errors.append(_bad("category", f"One of {', '.join(Listing.Category.values)}."))
        filters["category"] = category
    partner = params.get("partner")
    if partner:
        try:
            filters["partner_id"] = uuid.UUID(partner)
        except ValueError:
            errors.append(_bad("partner", "A partner id (UUID)."))
    verified = (params.get("verified_only") or "").lower()
    if verified:
        if verified not in ("true", "false", "1", "0"):
            errors.append(_bad("verified_only", "true or false."))
        filters["verified_only"] = verified in ("true", "1")
    limit, offset = page_params(request, errors)
    if errors:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The query did not pass validation.", details={"errors": errors})
    return filters, limit, offset


def paged(listings, *, limit: int, offset: int, **flags) -> dict:
    """One page: a count and the rows (two queries, whatever the page's length)."""
    return {"data": [listing_body(item, **flags) for item in listings[offset:offset + limit]],
            "total": listings.count(), "limit": limit, "offset": offset}


def caller_partner(request) -> Partner | None:
    """The partner of the caller: the one whose credential signed the request, else the owner's."""
    return partner_from_request(request) or partner_live_for(request.user)


def _own_partner(request) -> Partner:
    partner = caller_partner(request)
    if partner is None:
        raise AppError(ErrorCode.PARTNER_NOT_APPROVED, "This account has no partner; apply with POST /api/v1/partners.")
    return partner


def _listing_for(request, listing_id) -> tuple[Listing, bool]:
    """(listing, own) as the caller may see it: its partner any status, staff any, others published."""
    partner = caller_partner(request) if request.user.is_authenticated else None
    own = listing_of_partner(listing_id=listing_id, partner=partner)
    if own is not None:
        return own, True
    listing = (Listing.objects.select_related("partner").filter(pk=listing_id).first()
               if request_is_operator(request) else listing_public_get(listing_id=listing_id))
    if listing is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such listing.", details={"listing_id": str(listing_id)})
    return listing, False


def _mine(request, listing_id) -> Listing:
    listing, own = _listing_for(request, listing_id)
    if not own:
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only the listing's partner may change it.")
    return listing


def _list(request) -> Response:
    filters, limit, offset = _list_filters(request)
    return Response(paged(listings_public(**filters), limit=limit, offset=offset,
                          staff=request_is_operator(request)))


def _create(request) -> Response:
    fields = body_fields(request, CREATE_FIELDS)
    partner = _own_partner(request)
    wanted = fields.pop("partner_id", None)
    if wanted is not None and str(wanted) != str(partner.pk):
        raise AppError(ErrorCode.NOT_FOUND, "No such partner of yours.", details={"partner_id": str(wanted)})
    listing = listing_create(partner=partner, actor=request.user, **fields)
    body = {**listing_body(listing, own=True), "signing_secret": listing.signing_secret_once}
    return Response(body, status=status.HTTP_201_CREATED,
                    headers={"Location": f"/api/v1/marketplace/listings/{listing.pk}", "Cache-Control": "no-store"})


# --- /api/v1/marketplace/listings -----------------------------------------------------------------

class ListingCollectionView(StoreView):
    required_scopes = {"GET": "", "POST": WRITE}

    @extend_schema(summary="The marketplace's published listings, most downloaded first (public)",
                   parameters=LIST_PARAMS, responses={200: PAGE, **api_errors(400)}, operation_id="listings_list")
    def get(self, request):
        return _list(request)

    @extend_schema(summary="Create a listing, pending review (an approved partner: signed, or its owner's key); the "
                           "signing secret is shown this once", request=ListingWriteSerializer,
                   responses={201: ListingCreatedSerializer, **api_errors(400, 401, 403, 404)},
                   operation_id="listings_create")
    def post(self, request):
        return _create(request)


class ListingMineView(StoreView):
    required_scopes = {"GET": READ}

    @extend_schema(summary="My partner's listings, every status, newest first",
                   parameters=[OpenApiParameter("status", enum=Listing.Status.values), *LIST_PARAMS[3:]],
                   responses={200: PAGE, **api_errors(400, 401, 403)}, operation_id="listings_mine")
    def get(self, request):
        if not request.user.is_authenticated:
            raise AppError(ErrorCode.NOT_AUTHENTICATED, "Sign the request as a partner, or send the owner's API key.")
        partner = _own_partner(request)
        errors = []
        wanted = request.query_params.get("status") or None
        if wanted and wanted not in Listing.Status.values:
            errors.append(_bad("status", f"One of {', '.join(Listing.Status.values)}."))
        limit, offset = page_params(request, errors)
        if errors:
            raise AppError(ErrorCode.VALIDATION_FAILED, "The query did not pass validation.", details={"errors": errors})
        return Response(paged(listings_of_partner(partner, status=wanted), limit=limit, offset=offset, own=True))


class ListingDetailView(StoreView):
    required_scopes = {"GET": "", "PATCH": WRITE, "DELETE": WRITE}

    @extend_schema(summary="One listing (published; its partner and staff see it in any status)",
                   responses={200: ListingSerializer, **api_errors(404)}, operation_id="listings_retrieve")
    def get(self, request, listing_id):
        listing, own = _listing_for(request, listing_id)
        return Response(listing_body(listing, own=own, staff=request_is_operator(request)))

    @extend_schema(summary="Change my listing; a published one whose price, currency, endpoint or input schema "
                           "changes goes back to review", request=ListingWriteSerializer,
                   responses={200: ListingSerializer, **api_errors(400, 401, 403, 404)}, operation_id="listings_update")
    def patch(self, request, listing_id):
        listing = _mine(request, listing_id)
        fields = body_fields(request, LISTING_FIELDS)
        return Response(listing_body(listing_update(listing=listing, actor=request.user, **fields), own=True))

    @extend_schema(summary="Delist a listing (its partner, or staff with a reason)", request=ReasonSerializer,
                   responses={200: ListingSerializer, **api_errors(400, 401, 403, 404, 409)},
                   operation_id="listings_delist")
    def delete(self, request, listing_id):
        listing, own = _listing_for(request, listing_id)
        if not (own or request_is_operator(request)):
            raise AppError(ErrorCode.PERMISSION_DENIED, "Only the listing's partner or staff may delist it.")
        fields = body_fields(request, ("reason",)) if request.data else {}
        listing_delist(listing=listing, actor=request.user, reason=fields.get("reason"))
        return Response(listing_body(listing, own=own, staff=request_is_operator(request)))


class ListingRelistView(StoreView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="Offer a delisted or rejected listing again: back to review (its partner)",
                   request=ReasonSerializer, responses={200: ListingSerializer, **api_errors(400, 401, 403, 404, 409)},
                   operation_id="listings_relist")
    def post(self, request, listing_id):
        listing = _mine(request, listing_id)
        fields = body_fields(request, ("reason",)) if request.data else {}
        listing_relist(listing=listing, actor=request.user, reason=fields.get("reason"))
        return Response(listing_body(listing, own=True))


class ListingSecretRotateView(StoreView):
    required_scopes = {"POST": WRITE}

    @extend_schema(summary="A new signing secret for my listing, shown this once; the previous one also signs for "
                           "overlap_hours (default 24, 0 to 168)",
                   request=inline_serializer("ListingSecretRotate", {
                       "overlap_hours": serializers.FloatField(required=False, min_value=0, max_value=168)}),
                   responses={200: inline_serializer("ListingSecretRotated", {
                       "signing_secret": serializers.CharField(),
                       "previous_secret_expires_at": serializers.DateTimeField(allow_null=True)}),
                       **api_errors(400, 401, 403, 404)}, operation_id="listings_secret_rotate")
    def post(self, request, listing_id):
        listing = _mine(request, listing_id)
        fields = body_fields(request, ("overlap_hours",)) if request.data else {}
        secret = listing_secret_rotate(listing=listing, actor=request.user, overlap_hours=fields.get("overlap_hours"))
        listing.refresh_from_db()
        return Response({"signing_secret": secret, "previous_secret_expires_at": listing.overlap_ends_at()},
                        headers={"Cache-Control": "no-store"})


# --- the old contract: /api/marketplace/listings --------------------------------------------------

class LegacyListingCollectionView(ListingCollectionView):
    @extend_schema(summary="Published listings (old Levqor contract)", parameters=LIST_PARAMS,
                   responses={200: PAGE, **api_errors(400)}, operation_id="legacy_listings_list")
    def get(self, request):
        return _list(request)

    @extend_schema(summary="Create a listing (old Levqor contract)", request=ListingWriteSerializer,
                   responses={201: ListingCreatedSerializer, **api_errors(400, 401, 403, 404)},
                   operation_id="legacy_listings_create")
    def post(self, request):
        return _create(request)


class LegacyListingDetailView(StoreView):
    required_scopes = {"GET": ""}

    @extend_schema(summary="One listing (old Levqor contract)", responses={200: ListingSerializer, **api_errors(404)},
                   operation_id="legacy_listings_retrieve")
    def get(self, request, listing_id):
        listing, own = _listing_for(request, listing_id)
        return Response(listing_body(listing, own=own, staff=request_is_operator(request)))
