"""Routing a new alert to its channels and sending it there, on the workers.

A new alert (not a de-duplicated repeat) gets one AlertDelivery per channel that an enabled
AlertRoute matching its severity and source names, in the transaction that stores it; after the
commit each pending delivery is handed to django-q2. A worker sends it; a failure is retried with
backoff (jobs.dispatch.backoff_seconds, as job callbacks are) through a django-q2 ONCE schedule,
up to ALERT_DELIVERY_MAX_ATTEMPTS, then the delivery is failed. Nothing is sent in a request.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from intelligence.models import Alert, AlertChannel, AlertDelivery, AlertRoute
from intelligence.services.alert_channels import ChannelError, channel_send, channel_state
from jobs import dispatch
from levqor.tasks_queue import task_enqueue

logger = logging.getLogger("levqor.intelligence.alerts")

DELIVER_TASK = "intelligence.tasks.alert_delivery_send"
# A task may run a little before the time it was scheduled for (clocks of two machines).
EARLY_TOLERANCE = timedelta(seconds=2)
# A pending delivery this far past its time has lost its task (broker down at commit, worker
# killed mid-send): the sweep hands it over again.
SWEEP_GRACE = timedelta(minutes=2)


def alert_channels_for(*, severity: str, source: str) -> list[str]:
    """The channels the enabled routes send an alert of this severity and source to, each once."""
    routed = {route.channel for route in AlertRoute.objects.filter(enabled=True)
              if route.matches(severity=severity, source=source)}
    return [channel.value for channel in AlertChannel if channel in routed]


def alert_route(alert: Alert) -> list[AlertDelivery]:
    """Create the deliveries of a new alert (call inside the transaction that stored it): pending for
    each configured channel, handed to the workers after the commit; "not configured", with what is
    missing, for the others, which are sent nothing."""
    now = timezone.now()
    deliveries = []
    with transaction.atomic():
        for channel in alert_channels_for(severity=alert.severity, source=alert.source):
            state = channel_state(channel)
            if state.configured:
                delivery = AlertDelivery.objects.create(alert=alert, channel=channel, created_at=now,
                                                        next_attempt_at=now)
                transaction.on_commit(lambda pk=delivery.pk: task_enqueue(DELIVER_TASK, pk))
            else:
                delivery = AlertDelivery.objects.create(alert=alert, channel=channel, created_at=now,
                                                        status=AlertDelivery.Status.NOT_CONFIGURED,
                                                        last_error=state.detail)
            deliveries.append(delivery)
    return deliveries


def _lease() -> timedelta:
    """How long an attempt may take before the sweep may think its worker died."""
    return timedelta(seconds=60 + 2 * settings.ALERT_HTTP_TIMEOUT_SECONDS)


def alert_delivery_send(*, delivery_id: int) -> str | None:
    """Make one attempt at a pending delivery that is due, on a worker; on failure, schedule the next
    one with backoff or, at ALERT_DELIVERY_MAX_ATTEMPTS, mark it failed. Returns the delivery's new
    status, or None when there was nothing to do (already sent, not yet due, or claimed elsewhere)."""
    now = timezone.now()
    delivery = AlertDelivery.objects.select_related("alert").filter(
        pk=delivery_id, status=AlertDelivery.Status.PENDING).first()
    if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now + EARLY_TOLERANCE):
        return None
    attempt = delivery.attempts + 1
    # Claim the attempt: of two copies of this task (a sweep's and the original), one sends.
    if not AlertDelivery.objects.filter(pk=delivery.pk, status=AlertDelivery.Status.PENDING,
                                        attempts=delivery.attempts).update(
            attempts=attempt, last_attempt_at=now, next_attempt_at=now + _lease()):
        return None
    mine = AlertDelivery.objects.filter(pk=delivery.pk, attempts=attempt)
    state = channel_state(delivery.channel)
    if not state.configured:  # its settings went away since the alert was routed
        mine.update(status=AlertDelivery.Status.NOT_CONFIGURED, attempts=delivery.attempts, next_attempt_at=None,
                    last_error=state.detail)
        return AlertDelivery.Status.NOT_CONFIGURED
    try:
        channel_send(delivery.channel, alert=delivery.alert, delivery=delivery)
    except ChannelError as exc:
        return _failed(delivery, attempt=attempt, error=exc.message, retry_after=exc.retry_after, now=now)
    mine.update(status=AlertDelivery.Status.SENT, sent_at=timezone.now(), next_attempt_at=None, last_error="")
    return AlertDelivery.Status.SENT


def _failed(delivery: AlertDelivery, *, attempt: int, error: str, retry_after: float | None, now) -> str:
    mine = AlertDelivery.objects.filter(pk=delivery.pk, attempts=attempt)
    if attempt >= settings.ALERT_DELIVERY_MAX_ATTEMPTS:
        mine.update(status=AlertDelivery.Status.FAILED, next_attempt_at=None, last_error=error)
        logger.warning("alert %s to %s failed for good after %s attempts: %s", delivery.alert_id, delivery.channel,
                       attempt, error)
        return AlertDelivery.Status.FAILED
    wait = dispatch.backoff_seconds(attempt, base=settings.ALERT_RETRY_BASE_SECONDS, cap=settings.ALERT_RETRY_MAX_SECONDS)
    if retry_after:  # the receiver asked for longer (a 429): do as it says, within the cap
        wait = max(wait, min(retry_after, settings.ALERT_RETRY_MAX_SECONDS))
    next_at = now + timedelta(seconds=wait)
    with transaction.atomic():
        mine.update(next_attempt_at=next_at, last_error=error)
        transaction.on_commit(lambda: task_enqueue(DELIVER_TASK, delivery.pk, when=next_at))
    logger.warning("alert %s to %s failed (attempt %s), next try in %.0f s: %s", delivery.alert_id, delivery.channel,
                   attempt, wait, error)
    return AlertDelivery.Status.PENDING


def alert_deliveries_sweep() -> int:
    """Hand over again the pending deliveries whose task was lost (overdue by SWEEP_GRACE); each is
    marked due now, so one sweep hands it over once, not once a sweep while the queue is long."""
    now = timezone.now()
    overdue = list(AlertDelivery.objects.filter(status=AlertDelivery.Status.PENDING,
                                                next_attempt_at__lte=now - SWEEP_GRACE)
                   .values_list("pk", "next_attempt_at")[:500])
    handed = 0
    for pk, was_due in overdue:
        if AlertDelivery.objects.filter(pk=pk, status=AlertDelivery.Status.PENDING,
                                        next_attempt_at=was_due).update(next_attempt_at=now):
            task_enqueue(DELIVER_TASK, pk)
            handed += 1
    return handed
