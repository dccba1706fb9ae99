from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"

    def ready(self):
        from accounts.profile import register_user_fields
        from compliance import selectors, signals  # noqa: F401  (signals: terms cache invalidation)

        register_user_fields(selectors.user_compliance_fields)
