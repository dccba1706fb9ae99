"""Billing API under /api/v1/billing/ (checkout, portal)."""

urlpatterns: list = []
