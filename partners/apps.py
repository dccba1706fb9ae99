from django.apps import AppConfig


class PartnersConfig(AppConfig):
    """Partners: the registry and its review, the signed partner API, governance (policy, ratings,
    reports, audits, review cycles). Partners' webhooks go through levqor.webhooks."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "partners"
    verbose_name = "Partners"

    def ready(self):
        from levqor.webhooks.events import webhook_event_type_register
        from levqor.webhooks.policy import webhook_policy_register
        from partners.events import PARTNER_EVENT_TYPES
        from partners.services.policy import policy_webhook_policy

        for name, description in PARTNER_EVENT_TYPES.items():
            webhook_event_type_register(name=name, description=description, audiences=("partner",))
        webhook_policy_register(policy_webhook_policy)

        # The registry (partners/services/registry.py): the partner audience, personal data.
        from levqor.webhooks.events import webhook_audience_register
        from partners.personal_data import partners_personal_data_register
        from partners.services.registry import partner_may_use_webhooks

        webhook_audience_register("partner", may_use=partner_may_use_webhooks)
        partners_personal_data_register()
        from partners import openapi  # noqa: F401  (the schema's description of signed partner requests)
        from partners.services.credentials import partner_deleted_revoke_credentials
        from partners.signals import partner_deleted

        partner_deleted.connect(partner_deleted_revoke_credentials, dispatch_uid="partners.credentials.revoke_all")
        self._ready_audits_and_reviews()
        self._ready_governance()

    def _ready_audits_and_reviews(self):
        """Quarterly audits (looked for daily: each partner 90 days after its last audit, a bounded
        number per run) and the daily review cycle."""
        from datetime import time

        from levqor.schedules import schedule_daily

        schedule_daily(app_config=self, name="partners.audits_due", func="partners.tasks.partner_audits_due",
                       at=time(5, 0))
        schedule_daily(app_config=self, name="partners.review_cycle", func="partners.tasks.partner_review_cycle",
                       at=time(6, 0))

    def _ready_governance(self):
        """Auto-suspend: on the engine's endpoint-disabled signal, and daily over every approved partner;
        users' ratings and reports are in the personal data registry (partners/personal_data.py)."""
        from datetime import time

        from levqor.schedules import schedule_daily
        from levqor.webhooks.signals import webhook_endpoint_disabled
        from partners.services.governance import partner_endpoint_disabled

        webhook_endpoint_disabled.connect(partner_endpoint_disabled, dispatch_uid="partners-auto-suspend-endpoint")
        schedule_daily(app_config=self, name="partners.governance_sweep", func="partners.tasks.governance_sweep",
                       at=time(4, 15))
