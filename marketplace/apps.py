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
    the Stripe webhook and its event table; and the marketplace: listings and their review, orders
    bought through Checkout, installed modules as workflows, Stripe Connect payouts to partners.
    It changes a user's tier only through accounts' services (ARCHITECTURE.md)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "marketplace"
    verbose_name = "Billing and marketplace"

    def ready(self):
        from levqor.health import register_status_info
        from levqor.schedules import schedule_every
        from marketplace.personal_data import marketplace_personal_data_register
        from marketplace.stripe_api import stripe_configured

        marketplace_personal_data_register()
        # The marketplace: its webhook event types, and installed listings as workflows (partner.<slug>).
        from jobs.workflows import workflow_provider_register
        from levqor.webhooks.events import webhook_event_type_register
        from marketplace.events import MARKETPLACE_EVENT_TYPES
        from marketplace.services.modules import MODULE_PROVIDER, PREFIX

        for event_name, (description, audiences) in MARKETPLACE_EVENT_TYPES.items():
            webhook_event_type_register(name=event_name, description=description, audiences=audiences)
        workflow_provider_register(PREFIX, MODULE_PROVIDER)
        # Listing reviews feed the partner's rating in governance (partners does not import us).
        from marketplace.services.reviews import listing_reviews_partner_totals
        from partners.services.rating_sources import partner_rating_source_register

        partner_rating_source_register(listing_reviews_partner_totals)
        for name, func, minutes in SCHEDULES:
            schedule_every(app_config=self, name=name, func=func, minutes=minutes)
        # /status: whether billing is on (no query, no secret); details at /billing/health.
        register_status_info("billing", lambda: {"configured": stripe_configured(livemode=True),
                                                 "details": "/billing/health"})
