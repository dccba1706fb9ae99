"""Pages of the partners app (/partners)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

from partners import views, views_public

urlpatterns = [
    path("partners", views.partners_page, name="partners"),
    path("partners/<uuid:partner_id>", views_public.partner_profile, name="partner-profile"),
    path("partners/<uuid:partner_id>/rating", views_public.partner_profile_rate, name="partner-profile-rate"),
    path("partners/<uuid:partner_id>/report", views_public.partner_profile_report, name="partner-profile-report"),
]
