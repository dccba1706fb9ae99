from django.db import models


class Anomaly(models.Model):
    """A series that left its normal range (z-score, IQR fences or the spike rule). One open
    anomaly per series until it clears."""

    class Method(models.TextChoices):
        ZSCORE = "zscore", "z-score"
        IQR = "iqr", "IQR fences"
        SPIKE = "spike", "Spike rule"

    series = models.CharField(max_length=200,
                              help_text='e.g. "http.request.p95 route=/api/v1/intake", "job.run workflow=demo.flow"')
    opened_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(help_text="The reading that was anomalous (ms).")
    z_score = models.FloatField(null=True, blank=True)
    method = models.CharField(max_length=16, choices=Method.choices)
    window = models.PositiveIntegerField(help_text="How many samples the judgement used.")
    alert = models.ForeignKey("intelligence.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["series"], condition=models.Q(cleared_at__isnull=True),
                                               name="anomaly_one_open_per_series")]
        indexes = [models.Index(fields=["-opened_at"], name="anomaly_opened_at")]

    def __str__(self):
        return f"{self.series}: {self.value:.1f} ms ({self.method})"


class Incident(models.Model):
    """An SLO breach that held (3 breaches within 10 minutes), until 3 passing checks in a row."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    title = models.CharField(max_length=200)
    alert = models.ForeignKey("intelligence.Alert", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["status", "-opened_at"], name="incident_status_opened")]

    def __str__(self):
        return f"{self.title} ({self.status})"


class IncidentEvent(models.Model):
    """An incident's timeline (append-only): what was seen and what was done (or held)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    kind = models.CharField(max_length=32, help_text='"breach", "opened", "check_passed", "recovery", "held", "resolved", ...')
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.at:%H:%M:%S} {self.kind}"
