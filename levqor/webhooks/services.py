"""Writes of the webhook engine: events become deliveries (one per subscribed endpoint) that the
workers send after the caller's transaction commits."""

import json
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.tasks import webhook_deliveries_hand_over


def webhook_body(*, event_type: str, data: dict, msg_id: str, at=None) -> str:
    """The JSON every message carries: {"id", "type", "timestamp", "data"} (compact, UTF-8)."""
    at = at or timezone.now()
    return json.dumps({"id": msg_id, "type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"),
                       "data": data}, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


def webhook_msg_id(key: str | None = None) -> str:
    """A message id: "msg_" + a hex uuid, derived from `key` when given (the same key, the same id:
    an event emitted twice by a re-run reaches each endpoint once)."""
    return "msg_" + (uuid.uuid5(uuid.NAMESPACE_URL, key).hex if key else uuid.uuid4().hex)


def webhook_event_emit(*, owner, audience: str, event_type: str, data, key: str | None = None,
                       source: str = "") -> list[WebhookDelivery]:
    """Queue `event_type` with `data` to every enabled endpoint of `owner` for `audience` that
    subscribes to it. `key` (e.g. "partner.verified:<id>:<review event id>") makes the message id
    stable, so emitting the same event twice delivers it once per endpoint. `data` may be a callable
    returning the dict: it is called only when an endpoint subscribes (a hot path pays one query)."""
    # Only the columns routing needs: loading the secret would decrypt it (Fernet) for every endpoint.
    endpoints = [e for e in WebhookEndpoint.objects.filter(owner=owner, audience=audience, enabled=True)
                 .only("id", "url", "event_types") if event_type in e.event_types]
    if not endpoints:
        return []
    msg_id = webhook_msg_id(key)
    body = webhook_body(event_type=event_type, data=data() if callable(data) else data, msg_id=msg_id)
    now = timezone.now()
    with transaction.atomic():
        # One read and one insert for all endpoints. The unique (endpoint, msg_id) keeps an event
        # emitted twice at once to one row per endpoint (the loser's rows are ignored, and its
        # hand-over of them finds nothing to send).
        sent = set(WebhookDelivery.objects.filter(msg_id=msg_id, endpoint__in=endpoints)
                   .values_list("endpoint_id", flat=True))
        created = [WebhookDelivery(endpoint=endpoint, msg_id=msg_id, owner=owner, url=endpoint.url,
                                   event_type=event_type, source=source, body=body, next_attempt_at=now)
                   for endpoint in endpoints if endpoint.pk not in sent]
        WebhookDelivery.objects.bulk_create(created, ignore_conflicts=True)
        webhook_deliveries_hand_over([d.pk for d in created])
    return created


def webhook_send(*, owner, url: str, event_type: str, data: dict, key: str, source: str = "") -> WebhookDelivery:
    """Queue one message to a URL that is not an endpoint (a job's callback_url), signed with the
    owner's account signing secret. `key` makes it once-only: the same key returns the same delivery."""
    msg_id = webhook_msg_id(key)
    existing = WebhookDelivery.objects.filter(endpoint=None, owner=owner, msg_id=msg_id).first()
    if existing is not None:
        return existing
    try:
        # Two callers with the same key at once: the unique (owner, msg_id) of deliveries without an
        # endpoint lets one row in; the other's insert (and its hand-over) rolls back, and it returns
        # the winner's row.
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                owner=owner, url=url, event_type=event_type, source=source, msg_id=msg_id,
                body=webhook_body(event_type=event_type, data=data, msg_id=msg_id), next_attempt_at=timezone.now())
            webhook_deliveries_hand_over([delivery.pk])
    except IntegrityError:
        return WebhookDelivery.objects.get(endpoint=None, owner=owner, msg_id=msg_id)
    return delivery
