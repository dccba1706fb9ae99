"""Pages and hooks of billing: the Stripe webhook, /billing/health, the developer portal's forms; the
marketplace listing page's uninstall and review forms."""

from django.urls import path

from marketplace import pages_installs, views

urlpatterns: list = [
    path("webhooks/stripe", views.stripe_webhook, name="stripe-webhook"),
    path("billing/health", views.billing_health_view, name="billing-health"),
    path("billing/upgrade", views.billing_upgrade, name="billing-upgrade"),
    path("billing/manage", views.billing_manage, name="billing-manage"),
    path("marketplace/<slug:slug>/uninstall", pages_installs.listing_uninstall_page, name="marketplace-uninstall"),
    path("marketplace/<slug:slug>/review", pages_installs.listing_review_page, name="marketplace-review"),
]
