"""Buying under /api/v1/marketplace/: purchase a listing, the buyer's own orders. Thin: parse,
call a service, answer. A test-mode key buys in Stripe's test mode and sees test-mode orders only."""

import uuid

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import request_livemode
from accounts.serializers import api_errors
from levqor.errors import AppError, ErrorCode
from levqor.pagination import NewestFirstPagination
from marketplace.models import Listing, Order
from marketplace.services.orders import order_event_data, order_start

READ_SCOPE = "marketplace:read"
WRITE_SCOPE = "marketplace:write"



def order_body(order: Order) -> dict:
    body = order_event_data(order)
    body["listing_slug"] = order.listing.slug
    if order.status == Order.Status.PENDING and order.checkout_url:
        body["checkout_url"] = order.checkout_url
    return body


_ORDER = inline_serializer("MarketplaceOrder", {
    "id": serializers.UUIDField(), "listing_id": serializers.UUIDField(), "listing_slug": serializers.CharField(),
    "partner_id": serializers.UUIDField(), "livemode": serializers.BooleanField(),
    "status": serializers.CharField(help_text="pending, completed, paid_out, refunded or expired."),
    "amount_minor": serializers.IntegerField(), "currency": serializers.CharField(),
    "revenue_share": serializers.CharField(), "partner_share_minor": serializers.IntegerField(),
    "platform_fee_minor": serializers.IntegerField(), "created_at": serializers.DateTimeField(),
    "completed_at": serializers.DateTimeField(allow_null=True), "refunded_at": serializers.DateTimeField(allow_null=True),
    "amount_refunded_minor": serializers.IntegerField(),
    "checkout_url": serializers.URLField(required=False, help_text="Pending paid orders: send the buyer here to pay."),
})
_ORDER_PAGE = inline_serializer("MarketplaceOrderPage", {
    "next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True),
    "results": serializers.ListField(child=_ORDER),
})


def _uuid_or_404(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise AppError(ErrorCode.NOT_FOUND, f"No such {what}.") from None


class PurchaseView(APIView):
    required_scopes = {"POST": WRITE_SCOPE}

    @extend_schema(summary="Buy a listing: a free one installs at once, a paid one answers a Stripe Checkout URL",
                   operation_id="marketplace_listing_purchase", request=None,
                   responses={201: _ORDER, **api_errors(401, 403, 404, 409, 502, 503)})
    def post(self, request, listing_id):
        listing = Listing.objects.filter(pk=_uuid_or_404(listing_id, "listing")).first()
        if listing is None:
            raise AppError(ErrorCode.NOT_FOUND, "No such listing.")
        order = order_start(buyer=request.user, listing=listing, livemode=request_livemode(request))
        return Response(order_body(order), status=201)


class OrderListView(APIView):
    required_scopes = {"GET": READ_SCOPE}

    @extend_schema(summary="Your marketplace orders, newest first (cursor pagination, limit <= 100)",
                   operation_id="marketplace_orders_list",
                   responses={200: _ORDER_PAGE, **api_errors(400, 401, 403)})
    def get(self, request):
        orders = (Order.objects.filter(buyer=request.user, livemode=request_livemode(request))
                  .select_related("listing"))
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(orders, request, view=self)
        return paginator.get_paginated_response([order_body(order) for order in page])


class OrderDetailView(APIView):
    required_scopes = {"GET": READ_SCOPE}

    @extend_schema(summary="One of your marketplace orders", operation_id="marketplace_order_get",
                   responses={200: _ORDER, **api_errors(401, 403, 404)})
    def get(self, request, order_id):
        order = get_object_or_404(Order.objects.select_related("listing"), pk=_uuid_or_404(order_id, "order"),
                                  buyer=request.user, livemode=request_livemode(request))
        return Response(order_body(order))
