"""Billing API under /api/v1/billing/ (checkout, portal)."""

from django.urls import path

from marketplace import api

urlpatterns: list = [
    path("checkout", api.CheckoutView.as_view(), name="billing-checkout"),
    path("portal", api.PortalView.as_view(), name="billing-portal"),
]
