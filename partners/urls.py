"""Pages of the partners app (/partners)."""

from django.urls import path

from partners import credential_pages, views, views_public

urlpatterns = [
    path("partners", views.partners_page, name="partners"),
    path("partners/<uuid:partner_id>", views_public.partner_profile, name="partner-profile"),
    path("partners/<uuid:partner_id>/rating", views_public.partner_profile_rate, name="partner-profile-rate"),
    path("partners/<uuid:partner_id>/report", views_public.partner_profile_report, name="partner-profile-report"),
    path("partners/credentials", credential_pages.credentials_page, name="partner-credentials"),
    path("partners/credentials/<str:key_id>/rotate", credential_pages.credential_rotate_view,
         name="partner-credential-rotate-page"),
    path("partners/credentials/<str:key_id>/revoke", credential_pages.credential_revoke_view,
         name="partner-credential-revoke-page"),
]
