"""Pages and hooks of billing: the Stripe webhook and /billing/health (filled by the billing part)."""

urlpatterns: list = []
