"""The marketplace API under /api/v1/marketplace/."""

from django.urls import path

from marketplace.store_api import payouts

urlpatterns: list = [
    path("payouts", payouts.PartnerPayoutsView.as_view(), name="marketplace-payouts"),
    path("connect/onboarding", payouts.ConnectOnboardingView.as_view(), name="marketplace-connect-onboarding"),
]
