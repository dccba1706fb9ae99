import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Job(models.Model):
    """One unit of work for a customer. This table, not django-q2, is the truth about it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Priority(models.IntegerChoices):
        LOW = 0, "low"
        NORMAL = 1, "normal"
        HIGH = 2, "high"

    class CallbackStatus(models.TextChoices):
        NONE = "none"
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: job_owner_list starts with owner and serves every owner lookup, and each
    # index is paid on every insert and state change of a job.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs",
                              db_index=False)
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="jobs")
    livemode = models.BooleanField(default=True)
    workflow = models.CharField(max_length=128)
    payload = models.JSONField(default=dict)
    callback_url = models.URLField(max_length=1024, blank=True, default="")
    priority = models.SmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    estimated_cost = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    actual_cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    # The UTC day whose budget holds this job's reservation (the day of intake, or of its last retry).
    spend_day = models.DateField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True, default="")
    callback_status = models.CharField(max_length=16, choices=CallbackStatus.choices, default=CallbackStatus.NONE)
    callback_attempts = models.PositiveIntegerField(default=0)
    callback_next_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # The customer's list: newest first, per mode, with status/workflow filters.
            models.Index(fields=["owner", "livemode", "-created_at", "-id"], name="job_owner_list"),
            models.Index(fields=["owner", "livemode", "status", "-created_at"], name="job_owner_status"),
            # The worker's claim: the best due queued job.
            models.Index(fields=["-priority", "created_at"], name="job_claim",
                         condition=Q(status="queued")),
            # The reaper: running jobs whose lease ran out.
            models.Index(fields=["lease_expires_at"], name="job_lease", condition=Q(status="running")),
            models.Index(fields=["created_at"], name="job_created"),
            models.Index(fields=["callback_next_at"], name="job_callback_due", condition=Q(callback_status="pending")),
            # Jobs finished over a window (audit coverage of the last 7 days). What runs cost is
            # read from their events (jobevent_run_cost_at).
            models.Index(fields=["finished_at"], name="job_finished", condition=Q(finished_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.workflow} {self.id} ({self.status})"

    @property
    def priority_name(self) -> str:
        return self.Priority(self.priority).label

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES


class JobEvent(models.Model):
    """Append-only log of everything that happened to a job: transitions and attempts."""

    class Kind(models.TextChoices):
        CREATED = "created"
        STARTED = "started"
        SUCCEEDED = "succeeded"
        ATTEMPT_FAILED = "attempt_failed"
        RETRY_SCHEDULED = "retry_scheduled"
        FAILED = "failed"
        CANCEL_REQUESTED = "cancel_requested"
        CANCELLED = "cancelled"
        LEASE_EXPIRED = "lease_expired"
        RETRIED = "retried"
        CALLBACK_ATTEMPT = "callback_attempt"

    id = models.BigAutoField(primary_key=True)
    # Indexed by jobevent_job_at, which starts with job.
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events", db_index=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    attempt = models.PositiveIntegerField(default=0)
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # What the attempt this event ends cost (USD), on the transition that ends a run (succeeded,
    # failed, cancelled, retry_scheduled), null on every other event: a job's actual_cost is the
    # sum of its runs' costs, and this says on which day each was spent (a retried job's earlier
    # runs are not spent again on the day the retry finishes).
    cost = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["job", "at"], name="jobevent_job_at"),
                   # What runs cost over a window: the ledger's AI cost of a day
                   # (intelligence.services.ledger_costs) and autoscale's spend over 24 hours.
                   models.Index(fields=["at"], name="jobevent_run_cost_at", condition=Q(cost__isnull=False))]

    def __str__(self):
        return f"{self.kind} #{self.attempt}"


class IdempotencyRecord(models.Model):
    """What a request with an Idempotency-Key answered, replayed for 24 hours (Stripe semantics)."""

    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    livemode = models.BooleanField()
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "livemode", "key"], name="idempotency_unique")]

    def __str__(self):
        return f"{self.endpoint} {self.key}"


class DailySpend(models.Model):
    """Money committed per owner and UTC day: estimates when accepted, settled to actual cost."""

    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    livemode = models.BooleanField()
    amount = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "day", "livemode"], name="dailyspend_unique")]

    def __str__(self):
        return f"{self.day} {self.amount}"


class WorkerHeartbeat(models.Model):
    """Last sign of life of each worker host, for readiness."""

    name = models.CharField(max_length=200, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class UptimeMinute(models.Model):
    """One row per minute in which a worker's reaper ran: the record behind uptime figures."""

    minute = models.DateTimeField(primary_key=True)

    def __str__(self):
        return f"{self.minute:%Y-%m-%d %H:%M}"


class ScheduleTick(models.Model):
    """The latest tick of a django-q2 Schedule as the cluster loop saw it (jobs.schedule_ticks): the
    task id the scheduler stored on the Schedule, when the loop first saw it, and whether it was
    sent again because it never started. One row per Schedule; `state` moves only by
    compare-and-set, so two clusters never both re-send a tick."""

    class State(models.TextChoices):
        BASELINE = "baseline"  # the task the Schedule held when first seen: never re-sent
        WATCHING = "watching"
        STARTED = "started"
        RESENT = "resent"

    schedule_id = models.IntegerField(primary_key=True)
    task_id = models.CharField(max_length=100)
    seen_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices)
    resent_at = models.DateTimeField(null=True, blank=True)
    resent_task_id = models.CharField(max_length=100, blank=True, default="")

    def __str__(self) -> str:
        return f"schedule {self.schedule_id}: {self.task_id} {self.state}"


class ScheduleTickStart(models.Model):
    """A task that carries a group (every task django-q2's scheduler creates does) started on a
    worker: written by the django-q2 `pre_execute` receiver, in the database so it survives the
    broker. Rows older than a day are deleted by the cluster loop."""

    task_id = models.CharField(max_length=100, primary_key=True)
    started_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.task_id} started {self.started_at:%Y-%m-%d %H:%M:%S}"
