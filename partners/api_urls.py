"""The partners API under /api/v1/ (partners, credentials, ratings, reports, governance)."""

from django.urls import path

from partners.api import credentials as credentials_api
from partners.api import governance, registry, reviews, signed

urlpatterns = [
    path("partners", registry.PartnerCollectionView.as_view(), name="partner-list"),
    path("partners/me", registry.PartnerMeView.as_view(), name="partner-me"),
    path("partners/<uuid:partner_id>", registry.PartnerDetailView.as_view(), name="partner-detail"),
    path("partners/<uuid:partner_id>/review", registry.PartnerReviewView.as_view(), name="partner-review"),
    path("partners/<uuid:partner_id>/review-events", registry.PartnerReviewEventsView.as_view(),
         name="partner-review-events"),
    path("partners/<uuid:partner_id>/review-complete", reviews.PartnerReviewCompleteView.as_view(),
         name="partner-review-complete"),
    path("partners/<uuid:partner_id>/rating", governance.PartnerRatingView.as_view(), name="api-partner-rating"),
    path("partners/<uuid:partner_id>/reports", governance.PartnerReportsView.as_view(), name="api-partner-reports"),
    path("partner/me", signed.SignedPartnerMeView.as_view(), name="partner-signed-me"),
    path("partner/review-events", signed.SignedReviewEventsView.as_view(), name="partner-signed-review-events"),
    path("partner/deliveries", signed.SignedDeliveriesView.as_view(), name="partner-signed-deliveries"),
    path("partner/deliveries/<uuid:delivery_id>/replay", signed.SignedDeliveryReplayView.as_view(),
         name="partner-signed-delivery-replay"),
    path("partners/me/credentials", credentials_api.CredentialCollectionView.as_view(),
         name="partner-credential-list"),
    path("partners/me/credentials/<str:key_id>", credentials_api.CredentialDetailView.as_view(),
         name="partner-credential-detail"),
    path("partners/me/credentials/<str:key_id>/rotate", credentials_api.CredentialRotateView.as_view(),
         name="partner-credential-rotate"),
]
