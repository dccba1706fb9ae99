"""Pages and hooks of billing (the Stripe webhook, /billing/health, the developer portal's forms) and of the
marketplace (the catalogue, a listing's page and its forms, the partners' payouts pages)."""

from django.urls import path

from marketplace import pages_catalog, pages_installs, pages_orders, pages_payouts, views

urlpatterns: list = [
    path("webhooks/stripe", views.stripe_webhook, name="stripe-webhook"),
    path("billing/health", views.billing_health_view, name="billing-health"),
    path("billing/upgrade", views.billing_upgrade, name="billing-upgrade"),
    path("billing/manage", views.billing_manage, name="billing-manage"),
    # The marketplace's pages (pages_catalog); the buy, uninstall and review forms post below a listing's page.
    path("marketplace", pages_catalog.marketplace_catalog, name="marketplace"),
    path("marketplace/<slug:slug>", pages_catalog.marketplace_listing, name="marketplace-listing"),
    path("partners/payouts/onboard", pages_payouts.payouts_onboard, name="partner-payouts-onboard"),
    path("partners/payouts/return", pages_payouts.payouts_return, name="partner-payouts-return"),
    path("marketplace/<slug:slug>/uninstall", pages_installs.listing_uninstall_page, name="marketplace-uninstall"),
    path("marketplace/<slug:slug>/review", pages_installs.listing_review_page, name="marketplace-review"),
    path("marketplace/<slug:slug>/buy", pages_orders.listing_buy, name="marketplace-listing-buy"),
]
