"""The one way into Stripe: a client per mode from settings, and Stripe's errors as ours.

    with stripe_errors():
        session = stripe_client(livemode=True).v1.checkout.sessions.create(params={...})

stripe_client() raises billing_not_configured (503) when the mode has no key; stripe_errors()
turns a Stripe that cannot be reached (connection, timeout, 5xx, rate limit) into
service_unavailable (503, Retry-After) and a refusal (4xx) into billing_provider_error (502)
with Stripe's code, never a 500. STRIPE_API_BASE points the SDK at a local fake in tests."""

from contextlib import contextmanager

import stripe
from django.conf import settings

from levqor.errors import AppError, ErrorCode


def stripe_key(*, livemode: bool) -> str:
    """The secret key of a mode: STRIPE_SECRET_KEY for live requests, STRIPE_TEST_SECRET_KEY for
    requests made with a test-mode API key. "" when that mode is not configured."""
    return settings.STRIPE_SECRET_KEY if livemode else settings.STRIPE_TEST_SECRET_KEY


def stripe_configured(*, livemode: bool = True) -> bool:
    return bool(stripe_key(livemode=livemode))


def stripe_client(*, livemode: bool = True) -> stripe.StripeClient:
    """A StripeClient for the mode, pointed at STRIPE_API_BASE, with STRIPE_TIMEOUT_SECONDS and
    two network retries (Stripe's idempotency keys make them safe)."""
    key = stripe_key(livemode=livemode)
    if not key:
        setting = "STRIPE_SECRET_KEY" if livemode else "STRIPE_TEST_SECRET_KEY"
        raise AppError(ErrorCode.BILLING_NOT_CONFIGURED,
                       f"Billing is not configured here: {setting} is not set.", details={"setting": setting})
    if not livemode and key.startswith("sk_live_"):
        # Test-mode requests never touch live Stripe objects, whatever was put in the setting.
        raise AppError(ErrorCode.BILLING_NOT_CONFIGURED,
                       "STRIPE_TEST_SECRET_KEY holds a live key; test-mode requests refuse to use it.",
                       details={"setting": "STRIPE_TEST_SECRET_KEY"})
    return stripe.StripeClient(
        key, base_addresses={"api": settings.STRIPE_API_BASE, "files": settings.STRIPE_API_BASE,
                             "connect": settings.STRIPE_API_BASE},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS))


@contextmanager
def stripe_errors():
    """Stripe's exceptions as AppError: unreachable or failing on its side -> 503
    service_unavailable; a refusal of our request -> 502 billing_provider_error."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "Stripe cannot be reached right now; try again shortly.",
                       retry_after=30, details={"provider": "stripe"}) from exc
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None) or 0
        if status >= 500 or status == 0:
            raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "Stripe is failing right now; try again shortly.",
                           retry_after=30, details={"provider": "stripe", "stripe_status": status}) from exc
        raise AppError(ErrorCode.BILLING_PROVIDER_ERROR, "Stripe refused the request.",
                       details={"provider": "stripe", "stripe_status": status,
                                "stripe_code": getattr(exc, "code", None) or ""}) from exc
