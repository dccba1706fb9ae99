from django.db import models


class AnomalySeries(models.Model):
    """One series the anomaly scan watches (request p95 of a route group, run time of a workflow):
    its recent per-minute samples and the last judgement of its latest one.

    The samples are kept here so each scan reads only the rollups of the minutes since the last
    scan (and the two before, which a late rollup may still change), not hours of them."""

    series = models.CharField(max_length=200, unique=True)
    samples = models.JSONField(default=list, blank=True,
                               help_text="[[minute as epoch seconds, ms], ...], oldest first: at most the last 501.")
    scanned_until = models.DateTimeField(help_text="The scan has read the rollups of the minutes before this.")
    ready = models.BooleanField(default=False, help_text="Enough samples (10) for the z-score and IQR rules.")
    anomaly = models.BooleanField(default=False)
    latency_ms = models.FloatField(null=True, blank=True, help_text="The latest sample.")
    z_score = models.FloatField(null=True, blank=True)
    method = models.CharField(max_length=16, blank=True, default="", help_text="The rule that found it, if any.")
    window = models.PositiveIntegerField(default=0, help_text="Samples the latest was judged against.")

    class Meta:
        verbose_name_plural = "anomaly series"

    def __str__(self):
        return self.series


class SloCheck(models.Model):
    """One SLO watchdog check of five minutes of rollups (append-only): what it read, which
    objectives it breached, and the incident open at the time."""

    window_start = models.DateTimeField()
    window_end = models.DateTimeField(unique=True, help_text="The minutes checked are [start, end).")
    at = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    server_errors = models.PositiveIntegerField(default=0, help_text="5xx answers.")
    p99_ms = models.FloatField(null=True, blank=True, help_text="Request p99; none without requests.")
    job_runs = models.PositiveIntegerField(default=0)
    job_failures = models.PositiveIntegerField(default=0)
    error_rate_pct = models.FloatField(null=True, blank=True, help_text="Failed job runs among job runs.")
    request_availability_pct = models.FloatField(null=True, blank=True, help_text="Answers that were not 5xx.")
    worker_availability_pct = models.FloatField(null=True, blank=True, help_text="Minutes with a live worker.")
    breaches = models.JSONField(default=list, blank=True, help_text='e.g. ["p99", "error_rate", "availability"]')
    passed = models.BooleanField()
    incident = models.ForeignKey("intelligence.Incident", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="checks")

    class Meta:
        indexes = [models.Index(fields=["passed", "-window_end"], name="slocheck_passed_end")]

    def __str__(self):
        return f"SLO check to {self.window_end:%Y-%m-%d %H:%M}: {'passed' if self.passed else ', '.join(self.breaches)}"


class IncidentRecovery(models.Model):
    """What automatic recovery did for an incident: the runtime settings it changed (and their
    values before, to restore them when the incident resolves), or why it did nothing."""

    class State(models.TextChoices):
        OFF = "off", "Off (INCIDENT_AUTORECOVER)"
        COOLDOWN = "cooldown", "Cooldown"
        HELD = "held", "Held (stabilize mode)"
        ACTIVE = "active", "Active"
        RESTORED = "restored", "Restored"

    incident = models.OneToOneField("intelligence.Incident", on_delete=models.CASCADE, related_name="recovery")
    state = models.CharField(max_length=16, choices=State.choices)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    changes = models.JSONField(default=dict, blank=True,
                               help_text='{setting: {"before": value, "set": value}} of what recovery changed.')

    class Meta:
        indexes = [models.Index(fields=["-ended_at"], name="recovery_ended_at")]

    def __str__(self):
        return f"Recovery of incident {self.incident_id}: {self.state}"
