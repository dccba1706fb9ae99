"""Generated reports (PDF) and the integrity check's runs.

A report's PDF is kept in the database (a few hundred KB at most): every web machine can serve it
from admin and the workers can attach it to an email, with no shared disk to set up. The row keeps
what it was made from (kind, period) and what became of it (pages, emailed to whom, when)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Report(models.Model):
    class Kind(models.TextChoices):
        WEEKLY = "weekly", "Weekly governance report"
        INSIGHTS = "insights", "Platform insights"
        INTEGRITY = "integrity", "Integrity evidence"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    pdf = models.BinaryField(editable=False)
    size_bytes = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    # "command", "schedule", "admin", "integrity_check"...
    source = models.CharField(max_length=32, blank=True, default="")
    emailed_to = models.JSONField(default=list, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=500, blank=True, default="")
    # [[label, value]]: the few figures the email shows above the attachment, as rendered in the PDF.
    headline = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["kind", "-created_at"], name="report_kind_latest")]

    def __str__(self):
        return f"{self.title} ({self.created_at:%Y-%m-%d %H:%M})"

    @property
    def filename(self) -> str:
        return f"levqor-{self.kind}-{self.period_end:%Y-%m-%d}.pdf"


class IntegrityRun(models.Model):
    """One run of manage.py integrity_check (by hand or on its daily schedule): each step with its
    outcome and time, in order; the evidence PDF is a Report of kind integrity."""

    id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    # [{"name", "ok", "ms", "detail"}], in the order the steps ran.
    steps = models.JSONField(default=list)
    source = models.CharField(max_length=32, blank=True, default="")
    report = models.ForeignKey(Report, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at"], name="integrityrun_latest")]

    def __str__(self):
        return f"integrity check {self.started_at:%Y-%m-%d %H:%M} ({'ok' if self.ok else 'failed'})"
