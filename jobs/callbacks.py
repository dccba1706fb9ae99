"""Delivering a finished job to its callback_url: signed the Standard Webhooks way, retried
with backoff, every attempt recorded."""

import json
import logging
import time
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from jobs import dispatch
from jobs.models import CallbackDelivery, Job, JobEvent
from jobs.serializers import JobSerializer
from levqor.outbound import OutboundTargetRefused, OutboundTransport, outbound_url_check
from levqor.webhooks.signing import webhook_headers

logger = logging.getLogger("levqor.jobs.callbacks")
CALLBACK_RETRY_BASE_SECONDS = 10


def callback_body(job: Job) -> bytes:
    return json.dumps({"type": f"job.{job.status}", "data": JobSerializer(job).data},
                      cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def job_callback_deliver(*, job_id) -> str | None:
    """Make one delivery attempt for a job whose callback is pending; schedule the next on failure."""
    now = timezone.now()
    job = Job.objects.select_related("owner").filter(pk=job_id, callback_status=Job.CallbackStatus.PENDING).first()
    if job is None:
        return None
    attempt = job.callback_attempts + 1
    # Claim this attempt so that two deliveries of the same task cannot both send it.
    if not Job.objects.filter(pk=job.pk, callback_status=Job.CallbackStatus.PENDING,
                              callback_attempts=job.callback_attempts).update(
            callback_attempts=attempt,
            callback_next_at=now + timedelta(seconds=settings.CALLBACK_TIMEOUT_SECONDS * 2)):
        return None
    # One message id per final state of the job, the same across delivery retries (for dedupe).
    msg_id = f"msg_{job.pk.hex}_{job.attempts}"
    body = callback_body(job)
    status_code, error, refused = None, "", False
    started = time.monotonic()
    try:
        outbound_url_check(job.callback_url)
        headers = webhook_headers(secret=job.owner.webhook_secret, msg_id=msg_id, timestamp=int(time.time()), body=body)
        headers["user-agent"] = "Levqor-Webhooks/1"
        with httpx.Client(transport=OutboundTransport(), timeout=settings.CALLBACK_TIMEOUT_SECONDS,
                          follow_redirects=False) as client:
            response = client.post(job.callback_url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"The receiver answered {status_code}."
    except OutboundTargetRefused as exc:
        error, refused = str(exc), True  # retrying cannot help
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.monotonic() - started) * 1000)
    delivered = not error
    if delivered:
        state, next_at = Job.CallbackStatus.DELIVERED, None
    elif refused or attempt >= settings.CALLBACK_MAX_ATTEMPTS:
        state, next_at = Job.CallbackStatus.FAILED, None
    else:
        state = Job.CallbackStatus.PENDING
        next_at = now + timedelta(seconds=dispatch.backoff_seconds(attempt, base=CALLBACK_RETRY_BASE_SECONDS,
                                                                   cap=6 * 3600))
    with transaction.atomic():
        CallbackDelivery.objects.create(job=job, attempt=attempt, url=job.callback_url, webhook_id=msg_id,
                                        status_code=status_code, succeeded=delivered, error=error,
                                        duration_ms=duration_ms, at=now)
        JobEvent.objects.create(job=job, kind=JobEvent.Kind.CALLBACK_ATTEMPT, attempt=job.attempts,
                                duration_ms=duration_ms, error_message=error, at=now,
                                data={"delivery_attempt": attempt, "status_code": status_code, "outcome": state,
                                      "next_attempt_at": next_at.isoformat() if next_at else None})
        Job.objects.filter(pk=job.pk, callback_attempts=attempt).update(callback_status=state, callback_next_at=next_at)
        if next_at:
            transaction.on_commit(lambda: dispatch.callback_enqueue(job.pk, when=next_at))
    return state
