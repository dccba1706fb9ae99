from django.db import models


class AlertChannel(models.TextChoices):
    """Where an alert can be sent; each is configured by its settings (intelligence.services.alert_channels)."""

    EMAIL = "email", "Email (OPS_EMAILS)"
    SLACK = "slack", "Slack incoming webhook"
    TELEGRAM = "telegram", "Telegram bot"
    WEBHOOK = "webhook", "Signed webhook"


class AlertRoute(models.Model):
    """A routing rule: new alerts of these severities (and, if given, these sources) go to a channel.

    An alert goes once to each channel that any enabled route matching it names."""

    name = models.CharField(max_length=100)
    severities = models.JSONField(default=list, help_text="The severities this route sends: info, warning, critical.")
    sources = models.JSONField(default=list, blank=True,
                               help_text='Only alerts from these sources ("slo", "anomaly", ...); empty = every source.')
    channel = models.CharField(max_length=16, choices=AlertChannel.choices)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["channel", "name"]

    def __str__(self):
        return self.name

    def matches(self, *, severity: str, source: str) -> bool:
        return self.enabled and severity in self.severities and (not self.sources or source in self.sources)


class AlertDelivery(models.Model):
    """One alert sent to one channel: sent by the workers, retried with backoff, then sent or failed.
    A channel that is not configured gets a row too, saying so, and nothing is sent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        NOT_CONFIGURED = "not_configured", "Not configured"

    alert = models.ForeignKey("intelligence.Alert", on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=AlertChannel.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True,
                                           help_text="When a pending delivery is (re)tried; while an attempt runs, its deadline.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="", help_text="Why the last attempt failed (never a secret).")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "alert deliveries"
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="alertdelivery_one_per_channel")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="alertdelivery_due")]

    def __str__(self):
        return f"alert {self.alert_id} -> {self.channel}: {self.status}"
