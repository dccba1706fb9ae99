"""Writes on endpoints and signing secrets: create (URL and event types validated), update, delete,
enable, disable, and secret rotation with an overlap (the previous secret keeps signing until it
ends, so receivers switch over at their own pace)."""

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.db import transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.outbound import OutboundTargetRefused, outbound_receiver_allowed, outbound_url_check
from levqor.rotating_secret import ROTATION_OVERLAP_MAX, RotatingSecret, secret_rotate
from levqor.webhooks.delivery import signing_secret_for
from levqor.webhooks.events import webhook_audience_allowed, webhook_event_type
from levqor.webhooks.models import WebhookEndpoint, WebhookSigningSecret
from levqor.webhooks.policy import webhook_https_required
from levqor.webhooks.signing import webhook_secret_generate

ROTATION_OVERLAP = timedelta(hours=24)
MAX_OVERLAP = ROTATION_OVERLAP_MAX


def webhook_url_shape_check(url: str, *, field: str = "url") -> str:
    """The URL stripped, if it has the shape a webhook URL may have: http(s) with a host, at most
    1,024 characters, https when required (INVALID_WEBHOOK_URL naming `field` otherwise). Resolves nothing."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        # The host as the sending client reads it (an invalid IDNA host raises here, not at send time).
        host = parts.hostname and httpx.URL(url).host
    except Exception:  # ValueError, httpx.InvalidURL, the idna codec's own errors
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host or len(url) > 1024:
        raise AppError(ErrorCode.INVALID_WEBHOOK_URL, "The webhook URL must be an http(s) URL with a host.",
                       details={"field": field})
    if webhook_https_required() and parts.scheme != "https" and not outbound_receiver_allowed(url):
        raise AppError(ErrorCode.INVALID_WEBHOOK_URL, "The webhook URL must use https.", details={"field": field})
    return url


def webhook_url_reachable_check(url: str, *, field: str = "url") -> None:
    """The SSRF guard: the URL must reach a public host (resolved now; each send checks again)."""
    try:
        outbound_url_check(url)
    except OutboundTargetRefused as exc:
        raise AppError(ErrorCode.INVALID_WEBHOOK_URL, f"The webhook URL is not allowed: {exc}",
                       details={"field": field}) from exc


def webhook_url_validate(url: str, *, field: str = "url") -> str:
    """The URL an endpoint may have: the right shape (webhook_url_shape_check), reaching a public host."""
    url = webhook_url_shape_check(url, field=field)
    webhook_url_reachable_check(url, field=field)
    return url


def webhook_event_types_validate(event_types, *, audience: str) -> list[str]:
    """A non-empty list of event types registered for `audience`; UNKNOWN_EVENT_TYPE names the others."""
    if not isinstance(event_types, list | tuple) or not event_types or not all(isinstance(t, str) for t in event_types):
        raise AppError(ErrorCode.VALIDATION_FAILED, "event_types must be a non-empty list of event type names.",
                       details={"field": "event_types"})
    unknown = sorted({t for t in event_types if (et := webhook_event_type(t)) is None or audience not in et.audiences})
    if unknown:
        raise AppError(ErrorCode.UNKNOWN_EVENT_TYPE,
                       f"Not an event type {audience} endpoints can subscribe to: {', '.join(unknown)}.",
                       details={"unknown": unknown, "audience": audience})
    return sorted(set(event_types))


def _audience_check(owner, audience: str) -> None:
    if audience not in WebhookEndpoint.Audience.values:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown audience {audience!r}.",
                       details={"field": "audience", "allowed": list(WebhookEndpoint.Audience.values)})
    if not webhook_audience_allowed(owner, audience):
        raise AppError(ErrorCode.PERMISSION_DENIED, f"This account may not have {audience} webhook endpoints.",
                       details={"audience": audience})


def webhook_endpoint_create(*, owner, url: str, event_types, audience: str = "account",
                            description: str = "") -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (the caller shows `endpoint.secret` once)."""
    _audience_check(owner, audience)
    endpoint = WebhookEndpoint(owner=owner, audience=audience, url=webhook_url_validate(url),
                               event_types=webhook_event_types_validate(event_types, audience=audience),
                               description=(description or "")[:200])
    with transaction.atomic():
        endpoint.save(force_insert=True)
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, url: str | None = None, event_types=None,
                            description: str | None = None) -> WebhookEndpoint:
    """Change an endpoint's URL, event types or description (what is given)."""
    fields = []
    if url is not None:
        endpoint.url = webhook_url_validate(url)
        fields.append("url")
    if event_types is not None:
        endpoint.event_types = webhook_event_types_validate(event_types, audience=endpoint.audience)
        fields.append("event_types")
    if description is not None:
        endpoint.description = description[:200]
        fields.append("description")
    if fields:
        with transaction.atomic():
            endpoint.save(update_fields=[*fields, "updated_at"])
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint with its deliveries and their attempts."""
    with transaction.atomic():
        endpoint.delete()


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Enable an endpoint again, with its failure count reset (failed deliveries stay failed: replay them)."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=True, disabled_reason="", disabled_at=None,
                                                              consecutive_failures=0, updated_at=timezone.now())
    endpoint.refresh_from_db()
    return endpoint


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str = "Disabled by its owner.") -> WebhookEndpoint:
    """Stop sending to an endpoint; its pending deliveries fail when their next attempt comes."""
    now = timezone.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
            enabled=False, disabled_reason=reason[:300], disabled_at=now, updated_at=now)
    endpoint.refresh_from_db()
    return endpoint


def _overlap(hours) -> timedelta:
    if hours is None:
        return ROTATION_OVERLAP
    try:
        overlap = timedelta(hours=float(hours))
    except (TypeError, ValueError, OverflowError):
        overlap = None
    if overlap is None or overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise AppError(ErrorCode.VALIDATION_FAILED, "overlap_hours must be a number from 0 to 168.",
                       details={"field": "overlap_hours"})
    return overlap


def _rotate(holder: RotatingSecret, *, overlap_hours) -> str:
    return secret_rotate(holder, new_secret=webhook_secret_generate(), overlap=_overlap(overlap_hours))


def webhook_endpoint_secret_rotate(*, endpoint: WebhookEndpoint, overlap_hours=None) -> str:
    """A new secret for the endpoint, returned once; the previous one also signs until the overlap
    (24 hours unless given, 0 to 168) ends."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        secret = _rotate(locked, overlap_hours=overlap_hours)
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "rotated_at",
                                   "updated_at"])
    endpoint.refresh_from_db()
    return secret


def webhook_signing_secret_rotate(*, owner, overlap_hours=None) -> str:
    """A new account signing secret (job callbacks), returned once; the previous one also signs
    until the overlap ends."""
    signing_secret_for(owner=owner)
    with transaction.atomic():
        locked = WebhookSigningSecret.objects.select_for_update().get(owner=owner)
        secret = _rotate(locked, overlap_hours=overlap_hours)
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "rotated_at"])
    return secret


def webhook_signing_secret_reset(*, owner) -> None:
    """Forget the account's signing secret (account erasure): a new one is made on next use."""
    WebhookSigningSecret.objects.filter(owner=owner).delete()


def webhook_owner_data_erase(*, owner) -> None:
    """Account erasure: the owner's endpoints, deliveries (bodies may hold personal data) with their
    attempts, and signing secret go."""
    from levqor.webhooks.models import WebhookDelivery

    with transaction.atomic():
        WebhookDelivery.objects.filter(owner=owner).delete()
        WebhookEndpoint.objects.filter(owner=owner).delete()
        webhook_signing_secret_reset(owner=owner)
