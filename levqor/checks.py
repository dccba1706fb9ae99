"""System checks: a production configuration refuses to start without its secrets or with a
mistyped proxy list."""

import ipaddress

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


@register(deploy=False)
def trusted_proxies_check(app_configs, **kwargs):
    """A typo in TRUSTED_PROXIES would otherwise surface as a 500 on the first rate-limited request."""
    errors = []
    for cidr in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            errors.append(Error(f"TRUSTED_PROXIES holds {cidr!r}, which is not an IP address or CIDR range.",
                                hint="A comma-separated list such as 10.0.0.0/8,192.0.2.7", id="levqor.E002"))
    return errors
