"""Running jobs on workers, by the rules of ARCHITECTURE.md section 4: compare-and-set
transitions, a lease per run, our own attempt counter and backoff, and a reaper."""

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import cluster, dispatch
from jobs.callbacks import FINAL_EVENTS, job_final_hand_over, job_final_notify
from jobs.fastsql import claim, finish
from jobs.models import IdempotencyRecord, Job, JobEvent, UptimeMinute, WorkerHeartbeat
from jobs.services import idempotency_cutoff, job_callback_schedule, spend_adjust
from jobs.workflows import JobCancelled, JobContext, JobError, workflow_all, workflow_for
from jobs.workflows.base import JobErrorCode, JobTimedOut
from levqor import ops_state
from levqor.metrics import JOB_OUTCOME, JOB_RUN, JOB_WAIT, metric_observe

logger = logging.getLogger("levqor.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_claim(*, worker: str | None = None, now=None) -> Job | None:
    """Take the best due queued job (high before normal before low, oldest first) and mark it
    running under a lease of its workflow's timeout plus the grace (jobs.fastsql.claim). A job is
    never handed to two workers. While the operations back-office pauses low priority (stabilize
    mode, incident recovery: levqor.ops_state), low-priority jobs stay queued until it ends."""
    leases, default_lease = _leases()
    return claim.job_claim(now=now or timezone.now(), worker=worker or worker_name(), leases=leases,
                           default_lease=default_lease, min_priority=claim_min_priority())


def claim_min_priority() -> int:
    """The lowest priority a worker takes now: NORMAL while low priority is paused, else LOW."""
    return Job.Priority.NORMAL if ops_state.low_priority_paused() else Job.Priority.LOW


# The timeout assumed for a workflow that is not a built-in: one a provider gives an account (a
# partner module: the policy's webhook timeout, at most 30 s) or one no longer registered (it
# fails at once anyway). The lease only needs to outlast the run.
UNKNOWN_WORKFLOW_TIMEOUT_SECONDS = 60


def _leases() -> tuple[dict[str, float], float]:
    """A run's lease per workflow (its timeout plus the grace), and the lease of a workflow no longer
    registered."""
    grace = settings.JOB_LEASE_GRACE_SECONDS
    return ({w.name: w.timeout_seconds + grace for w in workflow_all()},
            UNKNOWN_WORKFLOW_TIMEOUT_SECONDS + grace)


@dataclass
class Outcome:
    status: str
    result: object = None
    error: JobError | None = None
    cost: Decimal | None = None


_CANCELLED_WHILE_RUNNING = JobError(JobErrorCode.CANCELLED, "Cancelled while running.")


def _cancel_requested(job_id) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested_at__isnull=False).exists()


def job_execute(job: Job, *, claim_age: float = 0.0) -> Outcome:
    """Run the workflow's handler for a claimed job and say how it ended. No database writes.
    claim_age: seconds since the claim read the job (a batch's later jobs): the claim's read of
    its cancel request stands for the handler's first cancel poll only while it is that fresh."""
    workflow = workflow_for(job.workflow, owner_id=job.owner_id, livemode=job.livemode)
    if workflow is None:
        return Outcome(Job.Status.FAILED, error=JobError(JobErrorCode.UNKNOWN_WORKFLOW, f"No workflow {job.workflow!r}."))
    ctx = JobContext(job_id=job.pk, attempt=job.attempts, livemode=job.livemode,
                     timeout_seconds=workflow.timeout_seconds, cancel_requested=lambda: _cancel_requested(job.pk),
                     cancel_known_clear=job.cancel_requested_at is None
                     and claim_age < JobContext.CANCEL_POLL_SECONDS)
    try:
        result = workflow.handler(ctx, job.payload)
        if ctx.remaining() < 0:
            raise JobTimedOut(workflow.timeout_seconds)
        # The result must be storable as JSON; a handler that returns something else has failed.
        result = json.loads(json.dumps(result, cls=DjangoJSONEncoder))
        return Outcome(Job.Status.SUCCEEDED, result=result,
                       cost=ctx.actual_cost if ctx.actual_cost is not None else job.estimated_cost)
    except JobCancelled:
        return Outcome(Job.Status.CANCELLED, error=_CANCELLED_WHILE_RUNNING, cost=ctx.actual_cost)
    except JobError as exc:
        return Outcome(Job.Status.FAILED, error=exc, cost=ctx.actual_cost)
    except Exception as exc:  # a crash in a handler must not lose the job
        logger.exception("workflow handler crashed", extra={"job_id": str(job.pk), "workflow": job.workflow})
        return Outcome(Job.Status.FAILED,
                       error=JobError(JobErrorCode.HANDLER_ERROR, f"The workflow crashed: {type(exc).__name__}."),
                       cost=ctx.actual_cost)


def job_finish(job: Job, outcome: Outcome, *, duration_ms: int) -> str | None:
    """Record how an attempt ended, only if this worker still holds the job's lease (same
    attempt, still running). A transient failure with attempts left goes back to the queue
    with backoff, unless a cancel was requested meanwhile. Returns the new status, or None if
    the lease was lost."""
    status, _, _ = _job_finish(job, outcome, duration_ms=duration_ms, claim_next=False)
    return status


def _job_finish(job: Job, outcome: Outcome, *, duration_ms: int, claim_next: bool):
    """job_finish, and with claim_next the worker's next job claimed (in the same round trip when
    the finish is a final state: jobs.fastsql.finish). (status, next job or None, its claim time)."""
    now = timezone.now()
    error = outcome.error
    status = outcome.status
    retry_at = None
    if status == Job.Status.FAILED and error is not None and error.retryable and job.attempts < job.max_attempts:
        status = Job.Status.QUEUED
        workflow = workflow_for(job.workflow, owner_id=job.owner_id, livemode=job.livemode)
        retry_at = now + timedelta(seconds=dispatch.backoff_seconds(
            job.attempts, base=workflow.retry_base_seconds if workflow else None))
    # What this attempt really cost (tokens used before a failure too) is added to the job.
    run_cost = outcome.cost or Decimal(0)
    if status in Job.FINAL_STATUSES and connection.vendor in ("postgresql", "sqlite"):
        status, following = _job_finish_final(job, outcome, status=status, run_cost=run_cost, now=now,
                                              duration_ms=duration_ms,
                                              claim_next=_claim_kwargs(now) if claim_next else None)
        return status, following, now
    status = job_finish_orm(job, outcome, status=status, retry_at=retry_at, run_cost=run_cost, now=now,
                            duration_ms=duration_ms)
    if not claim_next:
        return status, None, None
    claimed_at = timezone.now()
    return status, job_claim(now=claimed_at), claimed_at


def _claim_kwargs(now) -> dict:
    leases, default_lease = _leases()
    return {"now": now, "worker": worker_name(), "leases": leases, "default_lease": default_lease,
            "min_priority": claim_min_priority()}


def _job_finish_final(job: Job, outcome: Outcome, *, status: str, run_cost: Decimal, now, duration_ms: int,
                      claim_next: dict | None) -> tuple[str | None, Job | None]:
    """A final state with the prebuilt SQL of jobs.fastsql.finish (and the next claim with it)."""
    job_error = _final_error(status, outcome.error)
    finished, following = finish.job_finish_final(
        job, status=status, result=outcome.result, run_cost=run_cost, error_code=job_error.code if job_error else "",
        error_message=job_error.message if job_error else "", now=now,
        events=_finish_events(job, outcome, status=status, duration_ms=duration_ms, now=now, retry_at=None,
                              run_cost=run_cost),
        endpoints_wanted=status in FINAL_EVENTS, claim_next=claim_next)
    if finished is None:
        logger.warning("job lease lost before finishing", extra={"job_id": str(job.pk), "attempt": job.attempts})
        return None, following
    callback_url, endpoints = finished
    if callback_url or endpoints:
        # Something to tell (jobs.callbacks); without a callback_url nor an endpoint of the owner's,
        # the hand-over would only read the job and the endpoints to find nothing to send.
        transaction.on_commit(lambda: job_final_hand_over(job.pk))
    return status, following


def job_finish_orm(job: Job, outcome: Outcome, *, status: str, retry_at, run_cost: Decimal, now,
                   duration_ms: int) -> str | None:
    """Record an attempt's end (status and retry_at as job_finish decided them) with the plain ORM:
    a retry's re-queue always, a final state on a database without prebuilt SQL. For final states
    it is the twin of jobs.fastsql.finish, which tests hold equal to it."""
    error = outcome.error
    held = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING, attempts=job.attempts)
    total_cost = Coalesce(F("actual_cost"), Value(Decimal(0))) + run_cost
    with transaction.atomic():
        if status == Job.Status.QUEUED:
            # Back to the queue only if nobody asked to cancel; a cancel wins over a retry.
            if held.filter(cancel_requested_at__isnull=True).update(
                    status=status, lease_expires_at=None, next_attempt_at=retry_at, actual_cost=total_cost,
                    error_code=error.code, error_message=error.message, updated_at=now):
                spend_adjust(job=job, delta=run_cost)
            else:
                status, retry_at = Job.Status.CANCELLED, None
        final = status in Job.FINAL_STATUSES
        if final:
            job_error = _final_error(status, error)
            # update() leaves auto_now fields alone: updated_at is written here, as the prebuilt
            # statement does (the dashboard's refresher reads it to see a job change).
            if not held.update(status=status, lease_expires_at=None, finished_at=now, result=outcome.result,
                               actual_cost=total_cost, updated_at=now,
                               error_code=job_error.code if job_error else "",
                               error_message=job_error.message if job_error else ""):
                logger.warning("job lease lost before finishing", extra={"job_id": str(job.pk), "attempt": job.attempts})
                return None
        JobEvent.objects.bulk_create(_finish_events(job, outcome, status=status, duration_ms=duration_ms, now=now,
                                                    retry_at=retry_at, run_cost=run_cost))
        if final:
            # The reservation was the estimate; what ran before this attempt is already counted.
            spend_adjust(job=job, delta=run_cost - job.estimated_cost)
            job_callback_schedule(job=job)
        else:
            transaction.on_commit(lambda: dispatch.run_token_at(retry_at))
    return status


def _final_error(status: str, error: JobError | None) -> JobError | None:
    return _CANCELLED_WHILE_RUNNING if status == Job.Status.CANCELLED else error


class _EventRow(NamedTuple):
    """An event row an attempt's end adds, before it is a JobEvent (the grouped finishes insert these
    as they are)."""
    kind: str
    attempt: int
    from_status: str
    to_status: str
    duration_ms: int
    error_code: str
    error_message: str
    data: dict
    cost: Decimal | None


def _finish_event_rows(job: Job, outcome: Outcome, *, status: str, duration_ms: int, retry_at,
                       run_cost: Decimal) -> list[_EventRow]:
    """The event rows an attempt's end adds: the failure (if any), then the transition, which
    carries what the attempt cost (the day it was spent, whatever happens to the job later)."""
    error = outcome.error
    events = []
    if error is not None and outcome.status != Job.Status.CANCELLED:
        events.append(_EventRow(JobEvent.Kind.ATTEMPT_FAILED, job.attempts, Job.Status.RUNNING, status, duration_ms,
                                error.code, error.message, {"retryable": error.retryable, **error.details}, None))
    kind = _FINAL_KINDS[status]
    events.append(_EventRow(kind, job.attempts, Job.Status.RUNNING, status, duration_ms, "", "",
                            {"next_attempt_at": retry_at.isoformat()} if retry_at else {}, run_cost))
    return events


_FINAL_KINDS = {Job.Status.SUCCEEDED: JobEvent.Kind.SUCCEEDED, Job.Status.FAILED: JobEvent.Kind.FAILED,
                Job.Status.CANCELLED: JobEvent.Kind.CANCELLED, Job.Status.QUEUED: JobEvent.Kind.RETRY_SCHEDULED}


def _finish_events(job: Job, outcome: Outcome, *, status: str, duration_ms: int, now, retry_at,
                   run_cost: Decimal) -> list[JobEvent]:
    """_finish_event_rows as JobEvent instances, at `now`."""
    return [JobEvent(job=job, at=now, **row._asdict())
            for row in _finish_event_rows(job, outcome, status=status, duration_ms=duration_ms, retry_at=retry_at,
                                          run_cost=run_cost)]


def job_run_next(*, worker: str | None = None) -> Job | None:
    """Claim the best due job, run it, record the outcome. What one django-q2 task does."""
    claimed_at = timezone.now()
    job = job_claim(worker=worker, now=claimed_at)
    if job is None:
        return None
    _job_run(job, claimed_at, want_next=lambda: False)
    return job


def _job_run(job: Job, claimed_at, *, want_next):
    """Run a claimed job and record its outcome; when want_next() (asked once the job has run) the
    next job is claimed with the finish, in one round trip. (next job or None, its claim time)."""
    started = time.monotonic()
    outcome = job_execute(job)
    run_ms = (time.monotonic() - started) * 1000
    status, following, following_at = _job_finish(job, outcome, duration_ms=int(run_ms), claim_next=want_next())
    _job_metrics(job, outcome, status=status, run_ms=run_ms, claimed_at=claimed_at)
    return following, following_at


def _job_metrics(job: Job, outcome: Outcome, *, status: str | None, run_ms: float, claimed_at) -> None:
    """The attempt in the live metrics (in this process's memory; see levqor.metrics): its wait from
    due to start, its run time, and how it ended (failed with a retry to come = retried; the lease
    lost before the finish = lost)."""
    labels = {"workflow": job.workflow}
    wait_ms = max(0.0, (claimed_at - job.next_attempt_at).total_seconds() * 1000)
    metric_observe(JOB_WAIT, labels, wait_ms)
    metric_observe(JOB_RUN, labels, run_ms, error=outcome.status == Job.Status.FAILED)
    ended = "lost" if status is None else "retried" if status == Job.Status.QUEUED else status
    metric_observe(JOB_OUTCOME, {"workflow": job.workflow, "outcome": ended}, run_ms,
                   error=ended in ("failed", "retried"))


def job_run_due(*, max_seconds: float | None = None) -> int:
    """Run due jobs one after another, best first, until none is due or max_seconds have passed;
    returns how many ran. What one run token does: under a backlog one django-q2 task serves many
    jobs, so django-q2's per-task cost (unpack, sign check, result queue, acknowledgement) is paid
    once per batch instead of once per job. Each job runs under its own lease, so a batch cut short
    by a crash loses nothing; with WORKER_CLAIM_BATCH > 1 jobs are claimed a few at a time and quick
    jobs' finishes written together (_job_run_due_batched). The system check levqor.E101 keeps
    max_seconds plus the longest workflow timeout under django-q2's hard timeout. A batch cut
    by time sends a token for what is left."""
    budget = settings.WORKER_BATCH_SECONDS if max_seconds is None else max_seconds
    started = time.monotonic()
    if cluster.stopping():
        # The cluster is stopping (jobs.cluster): no new job; a token carries on with what is
        # due (on another cluster, or this one once restarted), as for a batch cut by time.
        dispatch.run_tokens_enqueue()
        return 0
    if settings.WORKER_CLAIM_BATCH > 1 and connection.vendor in ("postgresql", "sqlite"):
        return _job_run_due_batched(budget=budget, started=started, limit=settings.WORKER_CLAIM_BATCH)
    claimed_at = timezone.now()
    job = job_claim(now=claimed_at)
    ran = 0
    carry_on = True

    def want_next() -> bool:
        nonlocal carry_on
        carry_on = time.monotonic() - started < budget and not cluster.stopping()
        return carry_on

    while job is not None:
        ran += 1
        # The next job is claimed with this one's finish (one round trip fewer per job).
        job, claimed_at = _job_run(job, claimed_at, want_next=want_next)
        if not carry_on:
            # Cut by time or by a stop: jobs may be left, and a token carries on with them
            # (intake may have sent none for them, as enough tokens were waiting then).
            dispatch.run_tokens_enqueue()
            break
    return ran


@dataclass
class _Done:
    """A job run to a final state whose finish waits to be written with others (grouped finishes)."""
    job: Job
    outcome: Outcome
    status: str
    run_ms: float
    claimed_at: object
    ended_at: object
    lease_left_at: float  # time.monotonic() when its lease runs out
    ended_mono: float


# How long the last run of each workflow took in this process (ms; "": the last run of any): a finish
# waits to be written with the next ones only while the job that follows is known to be quick, and a
# worker claims several jobs at once only while its last run was quick.
_RUN_MS: dict[str, float] = {}
_clock = time.monotonic


def _job_run_due_batched(*, budget: float, started: float, limit: int) -> int:
    """job_run_due with jobs claimed `limit` at a time and final finishes written in groups.

    Leases: each claimed job's lease is its workflow's timeout plus the grace from the claim, and a
    job is only started while less than half the grace has passed since the claim, so the lease
    still covers its whole timeout; jobs not started then (or when the batch is cut by time or by a
    stop) go back to the queue with a compare-and-set (jobs.fastsql.claim.job_release_unstarted). A
    worker killed in the middle of a batch leaves its unstarted jobs running under their leases: the
    reaper re-queues them when they run out, as for the job it was running.

    Grouped finishes: a final state is written with the next group's claim (one statement on
    PostgreSQL, one transaction on SQLite), or sooner: once the oldest waiting finish is
    WORKER_FINISH_FLUSH_SECONDS old, before a job whose workflow is not known to be quick in this
    process (its last run took longer than that, or it has not run here yet), and before a job whose
    timeout could outlast a waiting finish's lease. So a finished job's record and its hand-over
    wait at most about that. A retry (re-queue with backoff) is written at once, as before.

    Only while runs are quick: a worker claims several jobs only while its last run took less than
    WORKER_FINISH_FLUSH_SECONDS; after a slow job the rest of its batch is given back (with a token)
    for workers that are free, and the next claims take one job until runs are quick again.
    A job given back whose cancel was asked meanwhile is queued with the request set: its next run
    stops at its first checkpoint, as a running job's would."""
    half_grace = settings.JOB_LEASE_GRACE_SECONDS / 2
    flush_after = settings.WORKER_FINISH_FLUSH_SECONDS
    flush_ms = flush_after * 1000
    leases, default_lease = _leases()
    worker = worker_name()
    pending: list[_Done] = []
    ran = 0

    def claim_kwargs(now, limit: int) -> dict:
        return {"now": now, "worker": worker, "leases": leases, "default_lease": default_lease,
                "min_priority": claim_min_priority(), "limit": limit}

    def limit_now() -> int:
        # Several jobs at once only while this process sees quick runs: a slow job would keep the
        # others of its batch from workers that are free.
        return limit if _RUN_MS.get("", flush_ms + 1) <= flush_ms else 1

    claimed_at, claimed_mono = timezone.now(), _clock()
    batch = claim.job_claim_batch(**claim_kwargs(claimed_at, limit_now()))
    while batch:
        left: list[Job] = []
        for index, job in enumerate(batch):
            now_mono = _clock()
            if index and (now_mono - claimed_mono >= half_grace or _RUN_MS[""] > flush_ms) or (
                    ran and (now_mono - started >= budget or cluster.stopping())):
                # Its lease would no longer cover its whole timeout, the job before took long (the rest
                # go to workers that are free), or the token's time is spent or the cluster stops.
                left = batch[index:]
                break
            timeout = leases.get(job.workflow, default_lease) - settings.JOB_LEASE_GRACE_SECONDS
            if pending and (
                    now_mono - pending[0].ended_mono >= flush_after
                    or _RUN_MS.get(job.workflow, flush_ms + 1) > flush_ms
                    or now_mono + timeout + 1 >= min(d.lease_left_at for d in pending)):
                _flush(pending)
                pending = []
            ran += 1
            run_started = _clock()
            outcome = job_execute(job, claim_age=run_started - claimed_mono)
            ended_mono = _clock()
            run_ms = (ended_mono - run_started) * 1000
            _RUN_MS[job.workflow] = _RUN_MS[""] = run_ms
            status = outcome.status
            if status in Job.FINAL_STATUSES and not (
                    status == Job.Status.FAILED and outcome.error is not None and outcome.error.retryable
                    and job.attempts < job.max_attempts):
                pending.append(_Done(job, outcome, status, run_ms, claimed_at, timezone.now(),
                                     claimed_mono + leases.get(job.workflow, default_lease), ended_mono))
            else:
                new_status, _, _ = _job_finish(job, outcome, duration_ms=int(run_ms), claim_next=False)
                _job_metrics(job, outcome, status=new_status, run_ms=run_ms, claimed_at=claimed_at)
        if left:
            claim.job_release_unstarted(left, now=timezone.now())
        if left or _clock() - started >= budget or cluster.stopping():
            _flush(pending)
            # What is left is due again, and a token carries on with it (on any free worker).
            dispatch.run_tokens_enqueue()
            break
        claimed_at, claimed_mono = timezone.now(), _clock()
        batch = _flush(pending, claim_next=claim_kwargs(claimed_at, limit_now()))
        pending = []
    else:
        _flush(pending)
    return ran


def _flush(pending: list[_Done], *, claim_next: dict | None = None) -> list[Job]:
    """Write the waiting finishes (and claim the next jobs when asked) in one round trip; then each
    job's hand-over after the commit and its metrics. Returns the jobs claimed."""
    if not pending and claim_next is None:
        return []
    items = []
    for d in pending:
        job_error = _final_error(d.status, d.outcome.error)
        run_cost = d.outcome.cost or Decimal(0)
        items.append({"job": d.job, "status": d.status, "result": d.outcome.result, "run_cost": run_cost,
                      "error_code": job_error.code if job_error else "",
                      "error_message": job_error.message if job_error else "", "now": d.ended_at,
                      "events": _finish_event_rows(d.job, d.outcome, status=d.status, duration_ms=int(d.run_ms),
                                                   retry_at=None, run_cost=run_cost),
                      "endpoints_wanted": d.status in FINAL_EVENTS})
    if items:
        finished, following = finish.jobs_finish_final_many(items, claim_next=claim_next)
    else:
        finished, following = [], claim.job_claim_batch(**claim_next)
    for d, done in zip(pending, finished, strict=True):
        status = d.status
        if done is None:
            logger.warning("job lease lost before finishing", extra={"job_id": str(d.job.pk), "attempt": d.job.attempts})
            status = None
        elif done[0] or done[1]:
            job_id = d.job.pk
            transaction.on_commit(lambda job_id=job_id: job_final_hand_over(job_id))
        _job_metrics(d.job, d.outcome, status=status, run_ms=d.run_ms, claimed_at=d.claimed_at)
    return following


def job_reap(*, now=None, heartbeat: bool = True) -> dict:
    """The recurring safety net. Jobs whose lease ran out (their worker died) go back to the
    queue while attempts remain, else fail; due jobs without a waiting task get one; callbacks
    whose hand-over to the webhook engine was lost are handed over. Also the worker's heartbeat."""
    now = now or timezone.now()
    requeued = failed = 0
    expired = list(Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now)
                   .values_list("pk", "attempts", "max_attempts", "cancel_requested_at")[:1000])
    for pk, attempts, max_attempts, cancel_requested_at in expired:
        if cancel_requested_at is not None:
            new_status, code, message = Job.Status.CANCELLED, JobErrorCode.CANCELLED, "Cancelled; its worker stopped answering."
        elif attempts < max_attempts:
            new_status, code, message = Job.Status.QUEUED, JobErrorCode.LEASE_EXPIRED, "The worker running it stopped answering."
        else:
            new_status, code, message = Job.Status.FAILED, JobErrorCode.LEASE_EXPIRED, (
                "The worker stopped answering on the last attempt.")
        fields = {"status": new_status, "lease_expires_at": None, "error_code": code, "error_message": message,
                  "updated_at": now}
        if new_status == Job.Status.QUEUED:
            fields["next_attempt_at"] = now
        else:
            fields.update(finished_at=now, actual_cost=Coalesce(F("actual_cost"), Value(Decimal(0))))
        with transaction.atomic():
            # Decided on what was read above: if a cancel came in since, leave it to the next run.
            if not Job.objects.filter(pk=pk, status=Job.Status.RUNNING, attempts=attempts, lease_expires_at__lt=now,
                                      cancel_requested_at__isnull=cancel_requested_at is None).update(**fields):
                continue
            job = Job.objects.get(pk=pk)
            JobEvent.objects.create(job=job, kind=JobEvent.Kind.LEASE_EXPIRED, attempt=attempts,
                                    from_status=Job.Status.RUNNING, to_status=new_status, error_code=code,
                                    error_message=message, at=now)
            if new_status == Job.Status.QUEUED:
                requeued += 1
            else:
                failed += 1
                spend_adjust(job=job, delta=-job.estimated_cost)
                job_callback_schedule(job=job)
    # Jobs a worker would take now: low-priority ones left waiting (paused) need no token.
    # Each token runs due jobs until none is left: one per worker is enough to drain any backlog. So
    # the count stops there (the reaper runs every few seconds; a backlog is not counted whole).
    enough = dispatch.tokens_enough()
    due = len(Job.objects.filter(status=Job.Status.QUEUED, next_attempt_at__lte=now,
                                 priority__gte=claim_min_priority()).values_list("pk", flat=True)[:enough])
    tokens = max(0, min(due, enough) - dispatch.queue_size())
    if tokens:
        dispatch.run_tokens_enqueue(tokens)
    # A callback whose hand-over to the webhook engine was lost (the process died between the job's
    # commit and the delivery's): queued again, once-only by its key. Once the engine has it
    # (callback_attempts > 0), retries and lost tasks are the engine's sweep's.
    lost_callbacks = list(Job.objects.filter(callback_status=Job.CallbackStatus.PENDING, callback_attempts=0,
                                             callback_next_at__lt=now - timedelta(minutes=2))
                          .values_list("pk", flat=True)[:500])
    for pk in lost_callbacks:
        job_final_notify(job_id=pk)
    # Idempotency answers are kept for 24 hours; older ones go, a bounded batch per run.
    stale = IdempotencyRecord.objects.filter(created_at__lt=idempotency_cutoff(now))
    expired_keys, _ = IdempotencyRecord.objects.filter(pk__in=list(stale.values_list("pk", flat=True)[:5000])).delete()
    if heartbeat:
        worker_heartbeat()
    return {"requeued": requeued, "failed": failed, "tokens": tokens, "callbacks": len(lost_callbacks),
            "idempotency_expired": expired_keys}


def worker_heartbeat() -> None:
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=socket.gethostname(), defaults={"beat_at": now})
    UptimeMinute.objects.bulk_create([UptimeMinute(minute=now.replace(second=0, microsecond=0))],
                                     ignore_conflicts=True)


def worker_alive() -> tuple[bool, str]:
    """Readiness: a worker beat within WORKER_HEARTBEAT_MAX_AGE_SECONDS."""
    beat = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    if beat is None:
        return False, "no worker has reported yet"
    age = (timezone.now() - beat).total_seconds()
    limit = settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS
    return age <= limit, f"last heartbeat {age:.0f} s ago (limit {limit} s)"
