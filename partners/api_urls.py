"""The partners API under /api/v1/ (partners, credentials, ratings, reports, governance)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

from partners.api import governance

urlpatterns = [
    path("partners/<uuid:partner_id>/rating", governance.PartnerRatingView.as_view(), name="api-partner-rating"),
    path("partners/<uuid:partner_id>/reports", governance.PartnerReportsView.as_view(), name="api-partner-reports"),
]
