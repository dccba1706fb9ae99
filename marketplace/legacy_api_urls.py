"""The old service's marketplace paths under /api/marketplace/ (original-behaviour.md §6), kept working."""

from django.urls import path

from marketplace.store_api import listings

urlpatterns = [
    path("listings", listings.LegacyListingCollectionView.as_view(), name="legacy-listing-list"),
    path("listings/<uuid:listing_id>", listings.LegacyListingDetailView.as_view(), name="legacy-listing-detail"),
]
