"""Writes on jobs from the outside: intake (with guardrails and idempotency), cancel, retry."""

import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import ApiKey, User
from jobs import backpressure, dispatch
from jobs.fastsql import intake
from jobs.intake import IntakeRequest
from jobs.models import DailySpend, IdempotencyRecord, Job, JobEvent
from jobs.signals import job_finished
from jobs.workflows import workflow_for
from jobs.workflows.base import JobErrorCode
from levqor.errors import AppError, ErrorCode

logger = logging.getLogger("levqor.jobs")
IDEMPOTENCY_TTL_HOURS = 24


# --- cost guardrails ------------------------------------------------------------------------

def spend_reserve(*, owner: User, livemode: bool, amount: Decimal, day=None) -> None:
    """Reserve amount of today's budget atomically, or raise cost_limit_exceeded with the figures.

    One conditional UPDATE decides, so two concurrent intakes can never both pass a full budget.
    """
    limit = settings.JOB_COST_LIMIT
    if amount > limit:
        raise AppError(ErrorCode.COST_LIMIT_EXCEEDED, f"The job's estimated cost {amount} is over the per-job limit {limit}.",
                       details={"estimated_cost": str(amount), "per_job_limit": str(limit)})
    day = day or timezone.now().date()
    budget = settings.DAILY_BUDGET
    rows = DailySpend.objects.filter(owner=owner, day=day, livemode=livemode)
    if rows.filter(amount__lte=budget - amount).update(amount=F("amount") + amount):
        return
    DailySpend.objects.bulk_create([DailySpend(owner=owner, day=day, livemode=livemode)], ignore_conflicts=True)
    if rows.filter(amount__lte=budget - amount).update(amount=F("amount") + amount):
        return
    spent = rows.values_list("amount", flat=True).first() or Decimal(0)
    raise AppError(ErrorCode.COST_LIMIT_EXCEEDED,
                   f"Today's spend {spent.normalize():f} plus this job's {amount.normalize():f} would pass the daily "
                   f"budget {budget}.",
                   details={"estimated_cost": str(amount), "spent_today": str(spent), "daily_budget": str(budget)})


def spend_adjust(*, job: Job, delta: Decimal) -> None:
    """Move the day's spend by delta (actual cost minus the reserved estimate)."""
    if delta:
        DailySpend.objects.filter(owner_id=job.owner_id, day=job.spend_day, livemode=job.livemode).update(
            amount=F("amount") + delta)


# --- idempotency ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict


def request_fingerprint(*, endpoint: str, body: bytes) -> str:
    return hashlib.sha256(endpoint.encode() + b"\0" + body).hexdigest()


def idempotency_cutoff(now=None):
    """Answers stored before this moment are past the replay window."""
    return (now or timezone.now()) - timedelta(hours=IDEMPOTENCY_TTL_HOURS)


def idempotency_lookup(*, owner: User, livemode: bool, key: str, fingerprint: str) -> StoredResponse | None:
    """The stored answer for this key, None if unseen; 422 if it came with another request."""
    if len(key) > 255:
        raise AppError(ErrorCode.INVALID_IDEMPOTENCY_KEY, "Idempotency-Key must be at most 255 characters.")
    record = (IdempotencyRecord.objects.filter(owner=owner, livemode=livemode, key=key,
                                               created_at__gte=idempotency_cutoff())
              .only("request_hash", "response_status", "response_body").first())
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise AppError(ErrorCode.IDEMPOTENCY_KEY_REUSED, "This Idempotency-Key was used with a different request.",
                       details={"idempotency_key": key})
    if record.response_status is None:
        raise AppError(ErrorCode.IDEMPOTENCY_IN_FLIGHT, "A request with this Idempotency-Key is still being processed.",
                       details={"idempotency_key": key})
    return StoredResponse(record.response_status, record.response_body)


# --- intake -----------------------------------------------------------------------------------

def job_create(*, owner: User, api_key: ApiKey | None, livemode: bool, request: IntakeRequest,
               idempotency_key: str = "", render=None, fingerprint: str = "",
               endpoint: str = "") -> tuple[Job | None, StoredResponse | None]:
    """Accept a job: reserve its estimated cost, store it with its first event, and hand it to
    the workers once the transaction commits. With an idempotency key the rendered answer is
    stored beside it, so a retry of the same request gets the same answer; if a concurrent
    twin with the same key won, returns (None, its stored answer). While too many due jobs wait
    (jobs.backpressure) it refuses with queue_full before anything is written."""
    backpressure.intake_capacity_check()
    workflow = request.workflow
    estimate = workflow.estimate_cost(request.payload)
    now = timezone.now()
    job = Job(
        owner=owner, api_key=api_key, livemode=livemode, workflow=workflow.name, payload=request.payload,
        callback_url=request.callback_url, priority=request.priority, max_attempts=workflow.max_attempts,
        estimated_cost=estimate, idempotency_key=idempotency_key, created_at=now, next_attempt_at=now,
        spend_day=now.date(),
    )
    # The answer is rendered before the insert (the id is made here, not by the database) so the
    # key's record is written once, complete, instead of inserted empty and updated.
    stored = StoredResponse(*render(job)) if idempotency_key and render is not None else None
    for attempt in range(2):
        try:
            _job_insert(job=job, idempotency_key=idempotency_key, stored=stored, endpoint=endpoint,
                        fingerprint=fingerprint, now=now)
            return job, stored
        except IntegrityError:
            if not idempotency_key:
                raise
            replay = idempotency_lookup(owner=owner, livemode=livemode, key=idempotency_key, fingerprint=fingerprint)
            if replay is not None:
                return None, replay
            # The key's record is past the replay window: forget it, then claim the key afresh.
            if attempt or not _idempotency_expired(owner=owner, livemode=livemode, key=idempotency_key).delete()[0]:
                raise
    raise AssertionError("unreachable")


def _idempotency_expired(*, owner: User, livemode: bool, key: str):
    return IdempotencyRecord.objects.filter(owner=owner, livemode=livemode, key=key, created_at__lt=idempotency_cutoff())


def _job_insert(*, job: Job, idempotency_key: str, stored: StoredResponse | None, endpoint: str, fingerprint: str,
                now) -> None:
    if not idempotency_key and job.estimated_cost <= settings.JOB_COST_LIMIT and intake.job_insert(job=job, now=now):
        return
    job_insert_orm(job=job, idempotency_key=idempotency_key, stored=stored, endpoint=endpoint, fingerprint=fingerprint,
                   now=now)


def job_insert_orm(*, job: Job, idempotency_key: str = "", stored: StoredResponse | None = None, endpoint: str = "",
                   fingerprint: str = "", now) -> None:
    """The intake in plain ORM: claim the idempotency key (if any), reserve the estimate (raising
    cost_limit_exceeded with the figures), insert the job and its 'created' event, hand it to the
    workers. Taken with an idempotency key and wherever the prebuilt intake (jobs.fastsql.intake)
    declines; without a key it is that one's twin, which tests hold equal to it."""
    with transaction.atomic():
        if idempotency_key:
            # Claims the key first: a concurrent twin waits on this row, then replays its answer.
            IdempotencyRecord.objects.create(
                owner=job.owner, livemode=job.livemode, key=idempotency_key, endpoint=endpoint,
                request_hash=fingerprint, created_at=now,
                response_status=stored.status if stored else None, response_body=stored.body if stored else None)
        spend_reserve(owner=job.owner, livemode=job.livemode, amount=job.estimated_cost, day=now.date())
        job.save(force_insert=True)
        JobEvent.objects.create(job=job, kind=JobEvent.Kind.CREATED, to_status=Job.Status.QUEUED, at=now,
                                data={"estimated_cost": str(job.estimated_cost)})
        dispatch.run_token_with_commit()


def job_cancel(*, job: Job) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next checkpoint."""
    now = timezone.now()
    with transaction.atomic():
        if Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
                status=Job.Status.CANCELLED, finished_at=now, cancel_requested_at=now, next_attempt_at=now,
                error_code=JobErrorCode.CANCELLED, error_message="Cancelled before it ran.", updated_at=now):
            JobEvent.objects.create(job=job, kind=JobEvent.Kind.CANCELLED, attempt=job.attempts,
                                    from_status=Job.Status.QUEUED, to_status=Job.Status.CANCELLED, at=now)
            job.refresh_from_db()
            spend_adjust(job=job, delta=-job.estimated_cost)
            job_callback_schedule(job=job)
        elif Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, cancel_requested_at__isnull=True).update(
                cancel_requested_at=now, updated_at=now):
            JobEvent.objects.create(job=job, kind=JobEvent.Kind.CANCEL_REQUESTED, attempt=job.attempts,
                                    from_status=Job.Status.RUNNING, to_status=Job.Status.RUNNING, at=now)
            job.refresh_from_db()
        else:
            job.refresh_from_db()
            if job.status not in (Job.Status.RUNNING,):
                raise AppError(ErrorCode.JOB_NOT_CANCELLABLE, f"A {job.status} job cannot be cancelled.",
                               details={"status": job.status})
    return job


def job_retry(*, job: Job) -> Job:
    """Run a failed or cancelled job again, with a fresh set of attempts and a new cost reservation."""
    workflow = workflow_for(job.workflow, owner_id=job.owner_id, livemode=job.livemode)
    if workflow is None:
        raise AppError(ErrorCode.UNKNOWN_WORKFLOW, f"The workflow {job.workflow!r} no longer exists.", status=409)
    now = timezone.now()
    with transaction.atomic():
        previous = job.status
        updated = Job.objects.filter(pk=job.pk, status__in=[Job.Status.FAILED, Job.Status.CANCELLED]).update(
            status=Job.Status.QUEUED, max_attempts=F("attempts") + workflow.max_attempts, next_attempt_at=now,
            cancel_requested_at=None, lease_expires_at=None, error_code="", error_message="", result=None,
            finished_at=None, callback_status=Job.CallbackStatus.NONE, callback_next_at=None, spend_day=now.date(),
            updated_at=now)
        if not updated:
            job.refresh_from_db(fields=["status"])
            raise AppError(ErrorCode.JOB_NOT_RETRYABLE,
                           f"Only failed or cancelled jobs can be retried; this one is {job.status}.",
                           details={"status": job.status})
        # After the state check, so a job that cannot be retried says so even when the budget is spent;
        # a refused reservation rolls the re-queue back.
        spend_reserve(owner=job.owner, livemode=job.livemode, amount=job.estimated_cost, day=now.date())
        JobEvent.objects.create(job=job, kind=JobEvent.Kind.RETRIED, attempt=job.attempts, from_status=previous,
                                to_status=Job.Status.QUEUED, at=now)
        dispatch.run_token_with_commit()
    job.refresh_from_db()
    return job


def job_callback_schedule(*, job: Job) -> None:
    """After a final state: mark the callback pending, and tell job_finished, whose receiver
    (jobs.callbacks) hands the callback and the job.completed / job.failed event to the webhook
    engine once the transaction commits."""
    if job.callback_url:
        # Each final state is a new message with a fresh set of delivery attempts.
        Job.objects.filter(pk=job.pk).update(callback_status=Job.CallbackStatus.PENDING, callback_attempts=0,
                                             callback_next_at=timezone.now())
    job_finished.send(sender=Job, job=job)


def job_owner_personal_data_erase(*, owner: User) -> int:
    """For account erasure: stop the owner's unfinished jobs and strip what may hold personal data
    from all of them (payloads, results, error texts, callback URLs, event details, stored
    idempotent answers; the callback deliveries themselves are the webhook engine's, erased with
    the account). What is kept - workflow, status, timings, costs,
    the event kinds - is what billing and operations need, and says nothing about a person.
    Returns how many jobs were scrubbed."""
    # The callback URL goes first, so cancelling below schedules no callback to it.
    Job.objects.filter(owner=owner).update(callback_url="", callback_status=Job.CallbackStatus.NONE,
                                           callback_next_at=None)
    for job in Job.objects.filter(owner=owner, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]):
        with contextlib.suppress(AppError):
            job_cancel(job=job)
    with transaction.atomic():
        JobEvent.objects.filter(job__owner=owner).update(error_message="", data={})
        IdempotencyRecord.objects.filter(owner=owner).delete()
        return Job.objects.filter(owner=owner).update(payload={}, result=None, error_message="")
