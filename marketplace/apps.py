from django.apps import AppConfig

# Recurring schedules: (name, task, every so many minutes).
SCHEDULES = (
    # Stripe events still `received` a while after arriving (a lost task, a failed attempt) go
    # to the workers again: nothing Stripe sent is lost.
    ("marketplace.stripe_events_sweep", "marketplace.tasks.stripe_events_sweep", 5),
    # Downgrades and cancellations at the end of the period paid for, grace periods run out.
    ("marketplace.subscriptions_due_sweep", "marketplace.tasks.subscriptions_due_sweep", 15),
    # Subscriptions of erased accounts cancelled at Stripe, again until Stripe confirms.
    ("marketplace.subscriptions_cancel_sweep", "marketplace.tasks.subscriptions_cancel_sweep", 15),
)


class MarketplaceConfig(AppConfig):
    """Money in: Stripe customers, subscriptions to the paid tiers, Checkout, the customer portal,
    the Stripe webhook and its event table (and, later, the marketplace: listings, orders, Connect
    payouts). It changes a user's tier only through accounts' services (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"
    verbose_name = "Billing and marketplace"

    def ready(self):
        from levqor.health import register_status_info
        from levqor.schedules import schedule_every
        from marketplace.personal_data import marketplace_personal_data_register
        from marketplace.stripe_api import stripe_configured

        marketplace_personal_data_register()
        for name, func, minutes in SCHEDULES:
            schedule_every(app_config=self, name=name, func=func, minutes=minutes)
        # /status: whether billing is on (no query, no secret); details at /billing/health.
        register_status_info("billing", lambda: {"configured": stripe_configured(livemode=True),
                                                 "details": "/billing/health"})
