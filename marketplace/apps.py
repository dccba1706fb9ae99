from datetime import time

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

# Daily: each completed order's partner share transferred once its hold (PAYOUT_HOLD_DAYS) is over.
PAYOUTS_SCHEDULE = ("marketplace.payouts_run", "marketplace.tasks.payouts_run", time(3, 0))


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
        self._ready_payouts()
        # /status: whether billing is on (no query, no secret); details at /billing/health.
        register_status_info("billing", lambda: {"configured": stripe_configured(livemode=True),
                                                 "details": "/billing/health"})

    def _ready_payouts(self):
        """Partners' payouts: the daily transfer run, and the Payouts section of /partners (the
        partners app renders it through its registry, without importing the marketplace)."""
        from levqor.schedules import schedule_daily
        from marketplace.pages_payouts import payouts_section, payouts_section_form_action
        from partners.sections import partner_page_section_register

        schedule_daily(app_config=self, name=PAYOUTS_SCHEDULE[0], func=PAYOUTS_SCHEDULE[1], at=PAYOUTS_SCHEDULE[2])
        partner_page_section_register(payouts_section, name="payouts", form_action=payouts_section_form_action)
