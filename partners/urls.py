"""Pages of the partners app (/partners)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

urlpatterns = []

from partners import credential_pages  # noqa: E402  (the signed part)

urlpatterns += [
    path("partners/credentials", credential_pages.credentials_page),
    path("partners/credentials/<str:key_id>/rotate", credential_pages.credential_rotate_view),
    path("partners/credentials/<str:key_id>/revoke", credential_pages.credential_revoke_view),
]
