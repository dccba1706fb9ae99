"""Replay: a delivered or failed delivery goes out again, the same message id and body (receivers
deduplicate on the id), its attempts numbered on from the last. A delivery that still has
scheduled attempts left continues the schedule; past the eighth attempt a replay is one attempt."""

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.webhooks.models import WebhookDelivery
from levqor.webhooks.tasks import webhook_deliveries_hand_over

Status = WebhookDelivery.Status


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send one delivery again. ENDPOINT_DISABLED when its endpoint is disabled (enable it first),
    DELIVERY_NOT_REPLAYABLE when its body was not kept; a delivery still pending is left as it is
    (it is on its way)."""
    if not delivery.replayable:
        raise AppError(ErrorCode.DELIVERY_NOT_REPLAYABLE,
                       "This delivery's body was not kept (a job callback moved from the old callback table), "
                       "so it cannot be sent again.", details={"delivery": str(delivery.pk)})
    if delivery.endpoint_id is not None and not delivery.endpoint.enabled:
        raise AppError(ErrorCode.ENDPOINT_DISABLED, "The endpoint of this delivery is disabled; enable it first.",
                       details={"endpoint": str(delivery.endpoint_id)})
    now = timezone.now()
    with transaction.atomic():
        if WebhookDelivery.objects.filter(pk=delivery.pk).exclude(status=Status.PENDING).update(
                status=Status.PENDING, next_attempt_at=now, replays=F("replays") + 1, updated_at=now):
            webhook_deliveries_hand_over([delivery.pk])
    delivery.refresh_from_db()
    return delivery


def webhook_deliveries_replay_failed(*, owner=None, endpoints=None, since=None) -> int:
    """Send again every failed delivery of `owner` (or of `endpoints`), created at or after `since`
    when given, to enabled endpoints or callback URLs. Returns how many. Deliveries that cannot be
    replayed (their body was not kept) are left out."""
    failed = WebhookDelivery.objects.filter(status=Status.FAILED, replayable=True).filter(
        Q(endpoint__isnull=True) | Q(endpoint__enabled=True))
    if owner is not None:
        failed = failed.filter(owner=owner)
    if endpoints is not None:
        failed = failed.filter(endpoint__in=endpoints)
    if since is not None:
        failed = failed.filter(created_at__gte=since)
    now = timezone.now()
    with transaction.atomic():
        ids = list(failed.values_list("pk", flat=True))
        count = WebhookDelivery.objects.filter(pk__in=ids, status=Status.FAILED).update(
            status=Status.PENDING, next_attempt_at=now, replays=F("replays") + 1, updated_at=now)
        webhook_deliveries_hand_over(ids)
    return count
