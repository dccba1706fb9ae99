from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "compliance"

    def ready(self):
        from accounts.profile import register_user_fields
        from compliance import selectors, signals  # noqa: F401  (signals: terms cache invalidation)
        from compliance.personal_data import compliance_personal_data_register

        register_user_fields(selectors.user_compliance_fields)
        compliance_personal_data_register()
