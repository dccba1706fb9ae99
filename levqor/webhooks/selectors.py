"""Reads of the webhook engine that the API, the page and the admin share."""

from django.db.models import Q

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoints_of(owner, *, audience: str | None = None):
    endpoints = WebhookEndpoint.objects.filter(owner=owner)
    return endpoints.filter(audience=audience) if audience else endpoints


def webhook_deliveries_of(owner, *, endpoint=None, status: str | None = None, event_type: str | None = None,
                          audience: str | None = None):
    deliveries = WebhookDelivery.objects.filter(owner=owner).select_related("endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    if audience == "account":  # the account's endpoints and its job callback URLs
        deliveries = deliveries.filter(Q(endpoint__audience=audience) | Q(endpoint__isnull=True))
    elif audience:
        deliveries = deliveries.filter(endpoint__audience=audience)
    return deliveries.order_by("-created_at", "-id")


def webhook_owner_export(*, owner) -> dict:
    """An account's webhooks for its data export: endpoints and deliveries (with their bodies, which
    may carry the account's data), never a secret."""
    return {
        "endpoints": [{"id": e.pk, "audience": e.audience, "url": e.url, "description": e.description,
                       "event_types": e.event_types, "enabled": e.enabled, "created_at": e.created_at}
                      for e in webhook_endpoints_of(owner).order_by("created_at")],
        "deliveries": [{"id": d.pk, "msg_id": d.msg_id, "endpoint": d.endpoint_id, "url": d.url,
                        "event_type": d.event_type, "status": d.status, "attempts": d.attempts, "body": d.body,
                        "created_at": d.created_at, "delivered_at": d.delivered_at}
                       for d in WebhookDelivery.objects.filter(owner=owner).order_by("created_at")],
    }
