"""Endpoints (who receives which events, signed with which secret), deliveries (one message to
one target) and attempts (every try, kept). Secrets are encrypted at rest (levqor.crypto)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from levqor.crypto import EncryptedSecretField
from levqor.rotating_secret import RotatingSecret
from levqor.webhooks.signing import webhook_secret_generate


class WebhookSigningSecret(RotatingSecret):
    """An account's secret for messages sent to a URL that is not an endpoint of theirs: the
    callback_url of a job. One per account, made on first use. Until `previous_secret_expires_at`
    messages carry a signature with each secret (levqor.rotating_secret), so a receiver can switch
    over at its own pace."""

    secret = EncryptedSecretField(default=webhook_secret_generate, editable=False)
    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                 related_name="webhook_signing_secret")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"signing secret of {self.owner_id}"


class WebhookEndpoint(RotatingSecret):
    """A URL that receives the event types it subscribes to, for an account or for the partner an
    account owns (audience), signed with its own secret (rotated with an overlap: RotatingSecret)."""

    class Audience(models.TextChoices):
        ACCOUNT = "account", "Account"
        PARTNER = "partner", "Partner"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    secret = EncryptedSecretField(default=webhook_secret_generate, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.ACCOUNT)
    url = models.URLField(max_length=1024)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "audience", "enabled"], name="webhook_endpoint_owner")]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One message to one target. The body is stored as sent, so every retry and every replay sends
    the same bytes under the same webhook-id (receivers deduplicate on it)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # every scheduled attempt failed, or the target was refused

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    msg_id = models.CharField(max_length=64)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="deliveries")
    url = models.URLField(max_length=1024)
    event_type = models.CharField(max_length=64)
    # Who asked for it, e.g. "jobs.job:<id>": a caller's outcome listener finds its own deliveries.
    source = models.CharField(max_length=120, blank=True, default="")
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replays = models.PositiveIntegerField(default=0)
    # False for a delivery whose body was not kept (job callbacks moved from the old table carry a
    # placeholder): sending it again would send the placeholder, so replay refuses it.
    replayable = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["owner", "-created_at"], name="webhook_delivery_owner"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
            models.Index(fields=["source"], name="webhook_delivery_source"),
        ]
        constraints = [
            # An event reaches an endpoint once, however often it is emitted (replays reuse the row).
            models.UniqueConstraint(fields=["endpoint", "msg_id"], name="webhook_delivery_once_per_endpoint"),
            # The same for messages to a URL that is not an endpoint (job callbacks): NULLs are distinct
            # in the constraint above, so it needs its own.
            models.UniqueConstraint(fields=["owner", "msg_id"], condition=models.Q(endpoint__isnull=True),
                                    name="webhook_delivery_once_per_owner_url"),
        ]

    def __str__(self):
        return f"{self.event_type} to {self.url}"


class WebhookAttempt(models.Model):
    """One try at a delivery: what came back and how long it took. Append-only."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now)
    url = models.URLField(max_length=1024)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    response_snippet = models.CharField(max_length=500, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["delivery", "number"]
        indexes = [models.Index(fields=["delivery", "number"], name="webhook_attempt_delivery")]

    def __str__(self):
        return f"attempt {self.number}: {self.status_code or self.error}"
