"""The old service's partner paths under /api/partners (original-behaviour.md §6), kept working."""

from django.urls import include, path  # noqa: F401  (each part adds its routes)

from partners.api import registry

# The mount has no trailing slash (/api/partners is the old list); the paths below it hang under
# "/" so that none begins with a slash (Django's urls.W002).
urlpatterns = [
    path("", registry.LegacyCollectionView.as_view(), name="legacy-partner-list"),
    path("/", include([
        path("register", registry.LegacyRegisterView.as_view(), name="legacy-partner-register"),
        path("<uuid:partner_id>", registry.LegacyDetailView.as_view(), name="legacy-partner-detail"),
    ])),
]
