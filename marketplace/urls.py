"""Pages and hooks of billing: the Stripe webhook, /billing/health, the developer portal's forms."""

from django.urls import path

from marketplace import pages_orders, views

urlpatterns: list = [
    path("webhooks/stripe", views.stripe_webhook, name="stripe-webhook"),
    path("billing/health", views.billing_health_view, name="billing-health"),
    path("billing/upgrade", views.billing_upgrade, name="billing-upgrade"),
    path("billing/manage", views.billing_manage, name="billing-manage"),
    path("marketplace/<slug:slug>/buy", pages_orders.listing_buy, name="marketplace-listing-buy"),
]
