from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    """Money in: Stripe customers, subscriptions to the paid tiers, Checkout, the customer portal,
    the Stripe webhook and its event table (and, later, the marketplace: listings, orders, Connect
    payouts). It changes a user's tier only through accounts' services (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"
    verbose_name = "Billing and marketplace"
