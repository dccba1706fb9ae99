from django.conf import settings
from django.db import models


class Alert(models.Model):
    """Something an operator should know. The same dedup key within ALERT_DEDUP_SECONDS counts
    as the same alert (count and last_seen move, nothing new is sent)."""

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    source = models.CharField(max_length=64, help_text='What raised it: "stabilize", "anomaly", "slo", "test", ...')
    severity = models.CharField(max_length=16, choices=Severity.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    dedup_key = models.CharField(max_length=200, db_index=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        indexes = [models.Index(fields=["status", "-last_seen"], name="alert_status_last_seen")]

    def __str__(self):
        return f"[{self.severity}] {self.title}"
