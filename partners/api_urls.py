"""The partners API under /api/v1/ (partners, credentials, ratings, reports, governance)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

urlpatterns = []
