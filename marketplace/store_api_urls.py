"""The marketplace API under /api/v1/marketplace/."""

from django.urls import path

from marketplace.store_api import installs, reviews

urlpatterns: list = [
    path("installs", installs.InstallListView.as_view(), name="marketplace-installs"),
    path("installs/<int:install_id>", installs.InstallDetailView.as_view(), name="marketplace-install"),
    path("listings/<uuid:listing_id>/reviews", reviews.ListingReviewsView.as_view(), name="marketplace-listing-reviews"),
]
