"""The webhook platform's API under /api/v1/webhooks/ (endpoints, deliveries, replay)."""

from django.urls import path  # noqa: F401  (each part adds its routes)

urlpatterns = []
