"""One attempt at a delivery: claimed compare-and-set, signed, POSTed through the SSRF guard, stored,
and then delivered, retried by the fixed schedule, or failed; an endpoint that keeps failing is
disabled. The task (levqor.webhooks.tasks.webhook_deliver) only calls webhook_delivery_attempt."""

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from levqor.outbound import OutboundTargetRefused, OutboundTransport, outbound_url_check
from levqor.tasks_queue import task_enqueue
from levqor.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookSigningSecret
from levqor.webhooks.policy import webhook_https_required, webhook_policy
from levqor.webhooks.signals import webhook_attempt_recorded, webhook_delivery_settled, webhook_endpoint_disabled
from levqor.webhooks.signing import webhook_headers

logger = logging.getLogger("levqor.webhooks")

DELIVER_TASK = "levqor.webhooks.tasks.webhook_deliver"
# The wait before each attempt, as Svix does it: the first at once, then 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h and 10 h after the previous failure. Eight attempts in all, then the delivery fails.
RETRY_SCHEDULE = (timedelta(0), timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                  timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
SNIPPET_CHARS = 500
USER_AGENT = "Levqor-Webhooks/1"
Status = WebhookDelivery.Status

_local = threading.local()


def _client() -> httpx.Client:
    """One client per worker thread, reused (kept-alive connections to busy receivers). Its transport
    resolves and checks the target's address on every request, redirects included."""
    client = getattr(_local, "client", None)
    if client is None:
        client = _local.client = httpx.Client(transport=OutboundTransport(), follow_redirects=False)
    return client


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


def _target_check(url: str) -> None:
    """Raise OutboundTargetRefused for a target no attempt may reach (retrying cannot help)."""
    if webhook_https_required() and urlsplit(url).scheme != "https":
        raise OutboundTargetRefused("Webhook URLs must be https.")
    outbound_url_check(url)


def _post(url: str, *, body: bytes, headers: dict, timeout: float) -> tuple[int, str]:
    """POST and read at most the first SNIPPET_CHARS of the answer (a receiver may answer a lot)."""
    with _client().stream("POST", url, content=body, headers=headers, timeout=timeout) as response:
        read = b""
        for chunk in response.iter_bytes():
            read += chunk
            if len(read) >= SNIPPET_CHARS * 4:
                break
    return response.status_code, read.decode("utf-8", "replace")[:SNIPPET_CHARS]


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
            attempts=number, next_attempt_at=now + timedelta(seconds=policy.timeout_seconds * 2 + 30), updated_at=now):
        return None
    delivery.attempts = number
    if endpoint is not None and not endpoint.enabled:
        return _settle_without_attempt(delivery, error="endpoint disabled")

    # An endpoint's current URL: a URL fixed after failures is where retries and replays go.
    if endpoint is not None:
        delivery.url = endpoint.url
    body = delivery.body.encode()
    status_code, snippet, error, refused = None, "", "", False
    started = time.monotonic()
    try:
        _target_check(delivery.url)
        headers = webhook_headers(secret=_secrets_for(delivery, now), msg_id=delivery.msg_id,
                                  timestamp=int(time.time()), body=body)
        headers["user-agent"] = USER_AGENT
        status_code, snippet = _post(delivery.url, body=body, headers=headers, timeout=policy.timeout_seconds)
        if not 200 <= status_code < 300:
            error = f"The receiver answered {status_code}."
    except OutboundTargetRefused as exc:
        error, refused = str(exc), True
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(delivery, number=number, status_code=status_code, snippet=snippet, error=error[:500],
                   refused=refused, duration_ms=duration_ms, started_at=now, policy=policy)


def _record(delivery, *, number, status_code, snippet, error, refused, duration_ms, started_at, policy) -> str:
    """Store the attempt and decide what comes next, in one transaction; side effects after it."""
    finished = timezone.now()
    succeeded = not error
    if succeeded:
        status, next_at = Status.DELIVERED, None
    elif refused or number >= MAX_ATTEMPTS:
        status, next_at = Status.FAILED, None
    else:
        status, next_at = Status.PENDING, finished + RETRY_SCHEDULE[number]
    endpoint = delivery.endpoint
    with transaction.atomic():
        attempt = WebhookAttempt.objects.create(
            delivery=delivery, number=number, at=started_at, url=delivery.url, status_code=status_code,
            succeeded=succeeded, duration_ms=duration_ms, response_snippet=snippet, error=error)
        fields = {"status": status, "next_attempt_at": next_at, "last_status_code": status_code,
                  "last_error": error, "updated_at": finished, "url": delivery.url}
        if succeeded:
            fields["delivered_at"] = finished
        WebhookDelivery.objects.filter(pk=delivery.pk, attempts=number).update(**fields)
        for name, value in fields.items():
            setattr(delivery, name, value)
        webhook_attempt_recorded.send(sender=WebhookDelivery, delivery=delivery, attempt=attempt)
        if endpoint is not None:
            _endpoint_count(endpoint, succeeded=succeeded, policy=policy, now=finished)
        if status == Status.PENDING:
            transaction.on_commit(lambda: task_enqueue(DELIVER_TASK, str(delivery.pk), when=next_at))
        else:
            transaction.on_commit(lambda: _settled_send([delivery]))
    return status


def _settle_without_attempt(delivery: WebhookDelivery, *, error: str) -> str:
    """An endpoint disabled meanwhile: the delivery fails without a request (the claim is undone)."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts).update(
            status=Status.FAILED, attempts=delivery.attempts - 1, next_attempt_at=None, last_error=error,
            updated_at=timezone.now())
        delivery.status, delivery.attempts, delivery.last_error = Status.FAILED, delivery.attempts - 1, error
        transaction.on_commit(lambda: _settled_send([delivery]))
    return Status.FAILED


def _endpoint_count(endpoint: WebhookEndpoint, *, succeeded: bool, policy, now) -> None:
    """Consecutive failed attempts at an endpoint, reset by a success; at the policy's number the
    endpoint is disabled."""
    if succeeded:
        if endpoint.consecutive_failures:
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        return
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    failures = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list("consecutive_failures", flat=True).first()
    if failures is not None and failures >= policy.disable_after_failures:
        webhook_endpoint_auto_disable(endpoint=endpoint, failures=failures, now=now)


def webhook_endpoint_auto_disable(*, endpoint: WebhookEndpoint, failures: int, now=None) -> bool:
    """Disable an endpoint that failed `failures` times in a row: its pending deliveries fail, its
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
