"""The Notion sync's own records: which Notion page holds each of our rows (so a re-run adds no
duplicate and skips an unchanged row without a request), and a log of every sync run."""

from django.db import models
from django.utils import timezone


class NotionPage(models.Model):
    """Our row `levqor_id` of the Notion database `database` (a key of settings.NOTION_DATABASES)
    lives in the Notion page `page_id`; `content_hash` is what was last sent there."""

    id = models.BigAutoField(primary_key=True)
    database = models.CharField(max_length=16)
    levqor_id = models.CharField(max_length=200)
    page_id = models.CharField(max_length=64)
    content_hash = models.CharField(max_length=64)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["database", "levqor_id"], name="notion_page_unique_row")]

    def __str__(self):
        return f"{self.database}:{self.levqor_id}"


class NotionSyncRun(models.Model):
    """One sync of one Notion database: what it did to the rows, or why it did nothing."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        SKIPPED = "skipped", "Skipped"
        PARTIAL = "partial", "Some rows failed"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    database = models.CharField(max_length=16)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.RUNNING)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)  # HTTP requests sent to Notion, retries included
    error = models.CharField(max_length=500, blank=True, default="")
    source = models.CharField(max_length=32, blank=True, default="")  # "schedule", "command"...

    class Meta:
        indexes = [models.Index(fields=["database", "-started_at"], name="notion_run_db_started")]

    def __str__(self):
        return f"{self.database} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"
