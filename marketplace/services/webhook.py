"""The Stripe webhook's front door: the Stripe-Signature verified with the SDK against each
configured secret (rotation: old and new both listed), then the event stored once by its id."""

import json

import stripe
from django.conf import settings

from levqor.errors import AppError, ErrorCode
from marketplace.models import StripeEvent
from marketplace.services.billing_events import stripe_event_store


def stripe_webhook_receive(*, body: bytes, signature: str) -> tuple[StripeEvent, bool]:
    """Verify and store a webhook delivery: (event, created). 503 billing_not_configured without a
    webhook secret; 400 invalid_signature when the header is missing, does not verify with any
    secret, or is older than STRIPE_WEBHOOK_TOLERANCE_SECONDS (a replay)."""
    secrets = [s for s in settings.STRIPE_WEBHOOK_SECRETS if s]
    if not secrets:
        raise AppError(ErrorCode.BILLING_NOT_CONFIGURED,
                       "The Stripe webhook is not configured here: STRIPE_WEBHOOK_SECRET is not set.",
                       details={"setting": "STRIPE_WEBHOOK_SECRET"})
    if not signature:
        raise AppError(ErrorCode.INVALID_SIGNATURE, "The Stripe-Signature header is missing.")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(body, signature, secret,
                                                  tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise AppError(ErrorCode.INVALID_SIGNATURE,
                       "The Stripe-Signature does not verify with the webhook secret, or is too old.")
    try:
        payload = json.loads(body)
        if not (isinstance(payload, dict) and payload.get("id") and payload.get("type")
                and isinstance(payload.get("created"), int) and isinstance(payload.get("data"), dict)):
            raise ValueError("not an event")
    except ValueError as exc:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The body is not a Stripe event.",
                       details={"errors": [{"field": "body", "message": "Expected a Stripe event object."}]}) from exc
    return stripe_event_store(payload=payload)
