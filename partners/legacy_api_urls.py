"""The old service's partner paths under /api/partners (original-behaviour.md §6), kept working."""

from django.urls import path  # noqa: F401  (each part adds its routes)

urlpatterns = []
