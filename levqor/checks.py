"""System checks: a production configuration refuses to start without its secrets."""

from django.conf import settings
from django.core.checks import Error, register


@register(deploy=False)
def production_secrets_check(app_configs, **kwargs):
    errors = []
    if not settings.DEBUG and not settings.EMBEDDED_MODE and not settings.SECRET_KEY_FROM_ENV:
        errors.append(Error(
            "SECRET_KEY must be set in the environment when DATABASE_URL points at a production database.",
            hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
            id="levqor.E001",
        ))
    return errors
