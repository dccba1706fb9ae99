"""The partners API under /api/v1/ (partners, credentials, ratings, reports, governance)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

urlpatterns = []

from partners.api import credentials as credentials_api  # noqa: E402  (the signed part)

urlpatterns += [
    path("partner/me", credentials_api.SignedPartnerMeView.as_view()),
    path("partners/me/credentials", credentials_api.CredentialCollectionView.as_view()),
    path("partners/me/credentials/<str:key_id>", credentials_api.CredentialDetailView.as_view()),
    path("partners/me/credentials/<str:key_id>/rotate", credentials_api.CredentialRotateView.as_view()),
]
