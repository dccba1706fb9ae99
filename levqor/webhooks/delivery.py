"""One attempt at a delivery: claimed compare-and-set, signed, POSTed through the SSRF guard, stored,
and then delivered, retried by the fixed schedule, or failed; an endpoint that keeps failing is
disabled. The task (levqor.webhooks.tasks.webhook_deliver) only calls webhook_delivery_attempt."""

import logging
import time
from datetime import timedelta

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from levqor.tasks_queue import task_enqueue
from levqor.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookSigningSecret
from levqor.webhooks.policy import webhook_policy
from levqor.webhooks.post import WebhookPostResult, webhook_post
from levqor.webhooks.signals import webhook_attempt_recorded, webhook_delivery_settled, webhook_endpoint_disabled
from levqor.webhooks.signing import webhook_headers
from levqor.webhooks.tasks import DELIVER_TASK

logger = logging.getLogger("levqor.webhooks")

# The wait before each attempt, as Svix does it: the first at once, then 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h and 10 h after the previous failure. Eight attempts in all, then the delivery fails.
RETRY_SCHEDULE = (timedelta(0), timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                  timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
USER_AGENT = "Levqor-Webhooks/1"
# A claimed attempt is not handed over again before this much more than the policy's timeout: the
# POST ends by the timeout (webhook_post's deadline), this margin covers signing and storing it.
CLAIM_MARGIN = timedelta(seconds=30)
Status = WebhookDelivery.Status


def claim_lease(timeout_seconds: float) -> timedelta:
    """How long a claimed attempt holds its delivery: longer than the attempt's deadline can last."""
    return timedelta(seconds=timeout_seconds * 2) + CLAIM_MARGIN


def _secrets_for(delivery: WebhookDelivery, now) -> list[str]:
    if delivery.endpoint is not None:
        return delivery.endpoint.signing_secrets(now=now)
    return signing_secret_for(owner=delivery.owner).signing_secrets(now=now)


def signing_secret_for(*, owner) -> WebhookSigningSecret:
    """The owner's account signing secret (for job callback URLs), made on first use."""
    secret = WebhookSigningSecret.objects.filter(owner=owner).first()
    if secret is None:
        secret, _ = WebhookSigningSecret.objects.get_or_create(owner=owner)
    return secret


def webhook_delivery_attempt(*, delivery_id, now=None) -> str | None:
    """Make one attempt at a pending delivery that is due. Returns its status afterwards, or None when
    there was nothing to do (not pending, not yet due, or another worker claimed this attempt)."""
    now = now or timezone.now()
    delivery = (WebhookDelivery.objects.select_related("endpoint", "owner")
                .filter(pk=delivery_id, status=Status.PENDING).first())
    if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now):
        return None
    endpoint = delivery.endpoint
    number = delivery.attempts + 1
    policy = webhook_policy()
    # Claim this attempt: two copies of the task cannot both pass. next_attempt_at moves past the
    # attempt's longest duration, so the sweep hands it over again only if this worker died.
    if not WebhookDelivery.objects.filter(pk=delivery.pk, status=Status.PENDING, attempts=delivery.attempts).update(
            attempts=number, next_attempt_at=now + claim_lease(policy.timeout_seconds), updated_at=now):
        return None
    delivery.attempts = number
    if endpoint is not None and not endpoint.enabled:
        return _settle_without_attempt(delivery, error="endpoint disabled")

    # An endpoint's current URL: a URL fixed after failures is where retries and replays go.
    if endpoint is not None:
        delivery.url = endpoint.url
    body = delivery.body.encode()
    headers = webhook_headers(secret=_secrets_for(delivery, now), msg_id=delivery.msg_id,
                              timestamp=int(time.time()), body=body)
    headers["user-agent"] = USER_AGENT
    result = webhook_post(delivery.url, body=body, headers=headers, timeout=policy.timeout_seconds)
    return _record(delivery, number=number, result=result, started_at=now, policy=policy)


def _record(delivery, *, number: int, result: WebhookPostResult, started_at, policy) -> str | None:
    """Store the attempt and decide what comes next, in one transaction; side effects after it.
    None, and nothing stored, counted or scheduled, when the claim no longer holds (this attempt
    outlived its lease and another worker took the delivery over)."""
    finished = timezone.now()
    if result.succeeded:
        status, next_at = Status.DELIVERED, None
    elif result.refused or number >= MAX_ATTEMPTS:
        status, next_at = Status.FAILED, None
    else:
        status, next_at = Status.PENDING, finished + RETRY_SCHEDULE[number]
    endpoint = delivery.endpoint
    fields = {"status": status, "next_attempt_at": next_at, "last_status_code": result.status_code,
              "last_error": result.error, "updated_at": finished, "url": delivery.url}
    if result.succeeded:
        fields["delivered_at"] = finished
    with transaction.atomic():
        if not WebhookDelivery.objects.filter(pk=delivery.pk, attempts=number, status=Status.PENDING).update(**fields):
            return _record_after_claim_lost(delivery, number=number, result=result, started_at=started_at)
        attempt = WebhookAttempt.objects.create(
            delivery=delivery, number=number, at=started_at, url=delivery.url, status_code=result.status_code,
            succeeded=result.succeeded, duration_ms=result.duration_ms, response_snippet=result.snippet,
            error=result.error)
        for name, value in fields.items():
            setattr(delivery, name, value)
        webhook_attempt_recorded.send(sender=WebhookDelivery, delivery=delivery, attempt=attempt)
        if endpoint is not None and status != Status.PENDING:
            _endpoint_count(endpoint, delivered=status == Status.DELIVERED, policy=policy, now=finished)
        if status == Status.PENDING:
            transaction.on_commit(lambda: task_enqueue(DELIVER_TASK, str(delivery.pk), when=next_at))
        else:
            transaction.on_commit(lambda: _settled_send([delivery]))
    return status


def _record_after_claim_lost(delivery, *, number: int, result: WebhookPostResult, started_at) -> str | None:
    """The delivery moved on while this attempt was in flight. Taken over by another worker: nothing
    is recorded. Settled as failed because its endpoint was disabled meanwhile: the attempt that was
    really made is kept in its history, but the delivery stays failed ("endpoint disabled") and
    nothing is counted, scheduled or signalled again (the disable settled it once)."""
    current = WebhookDelivery.objects.filter(pk=delivery.pk).values("status", "attempts").first()
    if current is None or current["attempts"] != number or current["status"] == Status.PENDING:
        logger.warning("a webhook attempt finished after another worker took its delivery over; not recorded",
                       extra={"delivery_id": str(delivery.pk), "attempt": number})
        return None
    WebhookAttempt.objects.create(
        delivery=delivery, number=number, at=started_at, url=delivery.url, status_code=result.status_code,
        succeeded=result.succeeded, duration_ms=result.duration_ms, response_snippet=result.snippet,
        error=result.error)
    return current["status"]


def _settle_without_attempt(delivery: WebhookDelivery, *, error: str) -> str:
    """An endpoint disabled meanwhile: the delivery fails without a request (the claim is undone)."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
            status=Status.FAILED, attempts=delivery.attempts - 1, next_attempt_at=None, last_error=error,
            updated_at=timezone.now())
        delivery.status, delivery.attempts, delivery.last_error = Status.FAILED, delivery.attempts - 1, error
        transaction.on_commit(lambda: _settled_send([delivery]))
    return Status.FAILED


def _endpoint_count(endpoint: WebhookEndpoint, *, delivered: bool, policy, now) -> None:
    """Consecutive failed deliveries at an endpoint (each counted once, after its last scheduled attempt
    or refused), reset by a delivered one; at the policy's number the endpoint is disabled. A retry
    still to come counts nothing: a short outage over many queued events disables nothing."""
    if delivered:
        # Always in the database, not from the in-memory count (stale once other workers counted).
        WebhookEndpoint.objects.filter(pk=endpoint.pk, consecutive_failures__gt=0).update(consecutive_failures=0)
        return
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    failures = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("consecutive_failures", flat=True).first()
    if failures is None:
        return
    endpoint.consecutive_failures = failures
    if failures >= policy.disable_after_failures:
        webhook_endpoint_auto_disable(endpoint=endpoint, failures=failures, now=now)


def webhook_endpoint_auto_disable(*, endpoint: WebhookEndpoint, failures: int, now=None) -> bool:
    """Disable an endpoint whose last `failures` deliveries failed: its pending deliveries fail, its
    owner gets an email and webhook_endpoint_disabled is sent, after the commit. False if it was
    disabled already (compare-and-set)."""
    now = now or timezone.now()
    reason = f"Disabled after {failures} consecutive failed deliveries."
    with transaction.atomic():
        if not WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
                enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now):
            return False
        endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, reason, now
        stopped = list(WebhookDelivery.objects.filter(endpoint=endpoint, status=Status.PENDING))
        WebhookDelivery.objects.filter(pk__in=[d.pk for d in stopped]).update(
            status=Status.FAILED, next_attempt_at=None, last_error="endpoint disabled", updated_at=now)
        for d in stopped:
            d.status, d.next_attempt_at, d.last_error = Status.FAILED, None, "endpoint disabled"

        def after():
            # The count as committed (receivers, e.g. partners' auto-suspend, quote it).
            current = (WebhookEndpoint.objects.filter(pk=endpoint.pk)
                       .values_list("consecutive_failures", flat=True).first())
            if current is not None:
                endpoint.consecutive_failures = current
            _disabled_email(endpoint, reason)
            webhook_endpoint_disabled.send(sender=WebhookEndpoint, endpoint=endpoint, reason=reason)
            _settled_send(stopped)
        transaction.on_commit(after)
    return True


def _disabled_email(endpoint: WebhookEndpoint, reason: str) -> None:
    email = getattr(endpoint.owner, "email", "")
    if not email:
        return
    try:
        send_mail(subject="Your webhook endpoint was disabled",
                  message=(f"Levqor stopped sending webhooks to {endpoint.url}.\n\n{reason}\n\n"
                           "Fix the receiver, then enable the endpoint again on /webhooks or with "
                           f"POST /api/v1/webhooks/endpoints/{endpoint.pk}/enable; failed deliveries "
                           "can be replayed from there."),
                  from_email=None, recipient_list=[email])
    except Exception:
        logger.warning("could not email the owner of a disabled webhook endpoint",
                       extra={"endpoint_id": str(endpoint.pk)}, exc_info=True)


def _settled_send(deliveries) -> None:
    for delivery in deliveries:
        try:
            webhook_delivery_settled.send(sender=WebhookDelivery, delivery=delivery)
        except Exception:  # a listener's failure must not undo or repeat a delivery
            logger.exception("a webhook_delivery_settled listener failed", extra={"delivery_id": str(delivery.pk)})


def webhook_deliveries_sweep(*, now=None, limit: int = 500) -> int:
    """Hand over again pending deliveries that were due more than 2 minutes ago (their task was lost,
    or its worker died mid-attempt). A duplicate hand-over is harmless: the claim lets one through."""
    now = now or timezone.now()
    due = list(WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lt=now - timedelta(minutes=2))
               .order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    for pk in due:
        task_enqueue(DELIVER_TASK, str(pk))
    return len(due)
