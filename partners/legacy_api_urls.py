"""The old service's partner paths under /api/partners (original-behaviour.md §6), kept working."""

from django.urls import path  # noqa: F401  (each part adds its routes)

from partners.api import registry

urlpatterns = [
    path("/register", registry.LegacyRegisterView.as_view(), name="legacy-partner-register"),
    path("", registry.LegacyCollectionView.as_view(), name="legacy-partner-list"),
    path("/<uuid:partner_id>", registry.LegacyDetailView.as_view(), name="legacy-partner-detail"),
]
