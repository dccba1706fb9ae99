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

        from partners import openapi  # noqa: F401  (the schema's description of signed partner requests)
        from partners.services.credentials import partner_deleted_revoke_credentials
        from partners.signals import partner_deleted

        partner_deleted.connect(partner_deleted_revoke_credentials, dispatch_uid="partners.credentials.revoke_all")
