"""System checks: a production configuration refuses to start without its secrets or with a
mistyped proxy list or site address, and is warned when its site address is left to the default."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks
from django.core.checks import Error, register
from django.http.request import split_domain_port, validate_host


@register(deploy=False)
def production_secrets_check(app_configs, **kwargs):
    errors = []
    if not settings.DEBUG and not settings.EMBEDDED_MODE and not settings.SECRET_KEY_FROM_ENV:
        errors.append(Error(
            "SECRET_KEY must be set in the environment when DATABASE_URL points at a production database.",
            hint="Generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
            id="levqor.E001",
        ))
    if not settings.DEBUG and not settings.EMBEDDED_MODE and not settings.FIELD_ENCRYPTION_KEYS:
        errors.append(Error(
            "FIELD_ENCRYPTION_KEYS must be set when DATABASE_URL points at a production database: it encrypts "
            "the stored webhook and partner secrets.",
            hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                 "print(Fernet.generate_key().decode())'",
            id="levqor.E004",
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


@register(deploy=False)
def site_url_check(app_configs, **kwargs):
    """SITE_URL makes the links people follow from emails: a malformed one breaks every link, and
    the default (http://127.0.0.1:$PORT) is only right on a developer's machine."""
    parts = urlsplit(settings.SITE_URL)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query or parts.fragment:
        return [Error(f"SITE_URL is {settings.SITE_URL!r}, not an address such as https://levqor.example.com.",
                      hint="A scheme (http or https) and a host, with a port if needed; no path.", id="levqor.E003")]
    problems = []
    domain, _ = split_domain_port(parts.netloc)
    if not validate_host(domain, settings.ALLOWED_HOSTS):
        problems.append(checks.Warning(
            f"SITE_URL's host {parts.hostname!r} is not in ALLOWED_HOSTS, so the links made from it would be "
            "refused (400).", hint="Add it to ALLOWED_HOSTS.", id="levqor.W002"))
    if not settings.DEBUG and not settings.EMBEDDED_MODE and not settings.SITE_URL_FROM_ENV:
        problems.append(checks.Warning(
            f"SITE_URL is not set: sign-in links in emails point at {settings.SITE_URL}.",
            hint="Set SITE_URL to the address people open this service at.", id="levqor.W001"))
    return problems
