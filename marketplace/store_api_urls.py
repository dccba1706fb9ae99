"""The marketplace store API under /api/v1/marketplace/."""

from django.urls import path

from marketplace.store_api import orders

urlpatterns: list = [
    path("listings/<str:listing_id>/purchase", orders.PurchaseView.as_view(), name="marketplace-listing-purchase"),
    path("orders", orders.OrderListView.as_view(), name="marketplace-orders"),
    path("orders/<str:order_id>", orders.OrderDetailView.as_view(), name="marketplace-order"),
]
