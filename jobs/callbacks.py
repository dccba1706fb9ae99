"""A finished job told to its owner through the webhook engine (levqor.webhooks): its callback_url
gets the job (signed with the account's signing secret, retried by the engine's schedule, every
attempt stored), and the account's endpoints subscribed to job.completed / job.failed get those.

Job.callback_status / callback_attempts / callback_next_at follow the engine's attempts through
webhook_attempt_recorded, which is sent inside the transaction that stores the attempt: the job's
row and its timeline event commit with it, so GET /api/v1/jobs/<id> never disagrees with the
delivery. (webhook_delivery_settled, after the commit, would leave a window and would not see the
retries in between.)"""

import logging

from django.db import transaction
from django.utils import timezone

from jobs.models import Job, JobEvent
from jobs.serializers import JobSerializer
from levqor.tasks_queue import handed_over
from levqor.webhooks.events import webhook_event_type_register
from levqor.webhooks.models import WebhookDelivery
from levqor.webhooks.services import webhook_event_emit, webhook_send
from levqor.webhooks.signals import webhook_attempt_recorded

logger = logging.getLogger("levqor.jobs.callbacks")
SOURCE_PREFIX = "jobs.job:"
FINAL_EVENTS = {Job.Status.SUCCEEDED: "job.completed", Job.Status.FAILED: "job.failed"}


def job_events_register() -> None:
    """The event types jobs sends to account endpoints (from JobsConfig.ready())."""
    webhook_event_type_register(name="job.completed", description="A job succeeded; data is the job.",
                                audiences=("account",))
    webhook_event_type_register(name="job.failed", description="A job failed after its last attempt; data is the job.",
                                audiences=("account",))
    webhook_attempt_recorded.connect(_attempt_recorded, sender=WebhookDelivery, dispatch_uid="jobs-callback-attempt")


def _final_state_key(job: Job) -> str:
    # One message per final state of the job: a retried job that ends again is a new message, and a
    # re-run of this function for the same final state finds the message it made before.
    finished = job.finished_at.isoformat() if job.finished_at else ""
    return f"job:{job.pk}:{job.attempts}:{finished}"


def job_final_notify(*, job_id) -> None:
    """After a job's final state committed: queue its callback (when it has a callback_url and the
    callback is pending) and the job.completed / job.failed event. Idempotent: a second call for
    the same final state queues nothing new."""
    job = Job.objects.select_related("owner").filter(pk=job_id).first()
    if job is None or job.status not in Job.FINAL_STATUSES:
        return
    data = None
    key = _final_state_key(job)
    if job.callback_url and job.callback_status == Job.CallbackStatus.PENDING:
        data = JobSerializer(job).data
        webhook_send(owner=job.owner, url=job.callback_url, event_type=f"job.{job.status}", data=data,
                     key=key, source=f"{SOURCE_PREFIX}{job.pk}")
    event_type = FINAL_EVENTS.get(job.status)
    if event_type:
        webhook_event_emit(owner=job.owner, audience="account", event_type=event_type,
                           data=data if data is not None else (lambda: JobSerializer(job).data),
                           key=f"{event_type}:{key}", source=f"{SOURCE_PREFIX}{job.pk}")


def job_finished_receiver(sender, *, job, **kwargs) -> None:
    """jobs.signals.job_finished: once the final state commits, hand the job over."""
    transaction.on_commit(lambda: job_final_hand_over(job.pk))


@handed_over("a finished job's callback and events")
def job_final_hand_over(job_id) -> None:
    """job_final_notify for an on_commit hook: the job's state is committed, so a failure here is
    logged, never raised into the worker; the reaper hands a lost callback over again."""
    job_final_notify(job_id=job_id)


def _attempt_recorded(sender, delivery, attempt, **kwargs) -> None:
    """Keep the job's callback fields and timeline in step with an attempt at its callback."""
    if delivery.endpoint_id is not None or not delivery.source.startswith(SOURCE_PREFIX):
        return
    job_id = delivery.source[len(SOURCE_PREFIX):]
    job_attempts = Job.objects.filter(pk=job_id).values_list("attempts", flat=True).first()
    if job_attempts is None:
        return
    Job.objects.filter(pk=job_id).update(callback_status=delivery.status, callback_attempts=attempt.number,
                                         callback_next_at=delivery.next_attempt_at, updated_at=timezone.now())
    next_at = delivery.next_attempt_at
    JobEvent.objects.create(
        job_id=job_id, kind=JobEvent.Kind.CALLBACK_ATTEMPT, attempt=job_attempts, duration_ms=attempt.duration_ms,
        error_message=attempt.error, at=attempt.at,
        data={"delivery_attempt": attempt.number, "status_code": attempt.status_code, "outcome": delivery.status,
              "next_attempt_at": next_at.isoformat() if next_at else None, "delivery_id": str(delivery.pk),
              "webhook_id": delivery.msg_id})
