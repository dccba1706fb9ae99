"""The marketplace store's API under /api/v1/marketplace/ (views in marketplace/store_api/, one
module per subject; each part appends its routes)."""

from django.urls import path

from marketplace.store_api import installs, listings, orders, payouts, reviews

urlpatterns = [
    path("listings", listings.ListingCollectionView.as_view(), name="marketplace-listing-list"),
    path("listings/mine", listings.ListingMineView.as_view(), name="marketplace-listing-mine"),
    path("listings/<uuid:listing_id>", listings.ListingDetailView.as_view(), name="marketplace-listing-detail"),
    path("listings/<uuid:listing_id>/relist", listings.ListingRelistView.as_view(), name="marketplace-listing-relist"),
    path("listings/<uuid:listing_id>/rotate-secret", listings.ListingSecretRotateView.as_view(),
         name="marketplace-listing-secret-rotate"),
    path("payouts", payouts.PartnerPayoutsView.as_view(), name="marketplace-payouts"),
    path("connect/onboarding", payouts.ConnectOnboardingView.as_view(), name="marketplace-connect-onboarding"),
    # Installed modules and reviews (store_api/installs.py, reviews.py).
    path("installs", installs.InstallListView.as_view(), name="marketplace-installs"),
    path("installs/<int:install_id>", installs.InstallDetailView.as_view(), name="marketplace-install"),
    path("listings/<uuid:listing_id>/reviews", reviews.ListingReviewsView.as_view(), name="marketplace-listing-reviews"),
    path("listings/<str:listing_id>/purchase", orders.PurchaseView.as_view(), name="marketplace-listing-purchase"),
    path("orders", orders.OrderListView.as_view(), name="marketplace-orders"),
    path("orders/<str:order_id>", orders.OrderDetailView.as_view(), name="marketplace-order"),
]
