"""The partners API under /api/v1/ (partners, credentials, ratings, reports, governance)."""

from django.urls import path

from partners.api import reviews

urlpatterns = [
    path("partners/<uuid:partner_id>/review-complete", reviews.PartnerReviewCompleteView.as_view(),
         name="partner-review-complete"),
]
