"""Pages of the partners app (/partners)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

urlpatterns = []
