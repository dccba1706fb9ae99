"""Error reports to Sentry, only when SENTRY_DSN is set: web errors through Sentry's Django
integration, worker task errors through task_errors_reported. No personal data, no secrets,
and every event tagged with the correlation id of its request or task."""

import functools

import sentry_sdk
from django.conf import settings
from sentry_sdk.integrations.django import DjangoIntegration

from levqor.redaction import redact_value
from levqor.request_context import current_correlation_id, reset_correlation_id, set_correlation_id


def sentry_release() -> str:
    return f"levqor@{settings.LEVQOR_VERSION}+{settings.LEVQOR_BUILD}"


def sentry_init(*, transport=None) -> bool:
    """Start the Sentry client when SENTRY_DSN is set; False (and nothing sent) when it is not.
    `transport`: a sentry_sdk Transport class to send with instead of the SDK's default (sentry_test)."""
    if not settings.SENTRY_DSN:
        return False
    sentry_sdk.init(
        **({"transport": transport} if transport is not None else {}),
        dsn=settings.SENTRY_DSN,
        environment=settings.SENTRY_ENVIRONMENT,
        release=sentry_release(),
        send_default_pii=False,
        # Bodies carry emails and passwords, and frame locals can hold a raw key under any name:
        # neither is sent, rather than trusting a scrubber to recognise every secret.
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE,
        integrations=[DjangoIntegration()],
        before_send=_before_send,
        before_send_transaction=_before_send,
        before_breadcrumb=lambda crumb, hint: redact_value(crumb),
    )
    return True


def sentry_status() -> str:
    if not sentry_sdk.get_client().is_active():
        return "not configured"
    return f"configured (environment {settings.SENTRY_ENVIRONMENT}, release {sentry_release()})"


def _before_send(event, hint):
    cid = current_correlation_id()
    if cid:
        event.setdefault("tags", {})["correlation_id"] = cid
    # Headers such as X-Api-Key are dropped by the SDK only under some spellings, and a query
    # string is one string to it: our redaction rules run over the whole event.
    return redact_value(event)


def task_errors_reported(func):
    """For django-q2 task functions: a task run gets its own correlation id (logs and reports of
    one run group together), and an exception escaping the task is reported, then re-raised so
    django-q2 records the failure as before."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        token = set_correlation_id(None)
        try:
            with sentry_sdk.isolation_scope() as scope:
                scope.set_tag("task", f"{func.__module__}.{func.__qualname__}")
                try:
                    return func(*args, **kwargs)
                except Exception as exc:
                    sentry_sdk.capture_exception(exc)
                    raise
        finally:
            reset_correlation_id(token)

    return wrapper
