from django.conf import settings
from django.db import models


class FlagChange(models.Model):
    """Every change of a feature flag, switch or sample (append-only): who, when, old -> new, why.

    old and new are the whole state (intelligence.services.flag_audit.flag_snapshot): None as old
    is a creation, None as new a deletion. Fed from the admin (a reason is required there), the
    services (stabilize mode) and, for changes made any other way (waffle's own commands, a
    shell), from model signals with source "direct" and no reason."""

    class Kind(models.TextChoices):
        FLAG = "flag", "Flag"
        SWITCH = "switch", "Switch"
        SAMPLE = "sample", "Sample"

    at = models.DateTimeField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, db_index=True)
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_label = models.CharField(max_length=200, blank=True, default="",
                                   help_text="Who, when no user account made it (a command line, a task).")
    source = models.CharField(max_length=32, help_text='"admin", "stabilize", "command", "migration", "direct", ...')
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["-at"], name="flagchange_at")]
        verbose_name = "flag change"
        verbose_name_plural = "flag audit"

    def __str__(self):
        return f"{self.kind} {self.name} ({self.source}) at {self.at:%Y-%m-%d %H:%M:%S}"

    def changed(self) -> dict[str, tuple]:
        """{field: (old, new)} of what this change changed (every field for a creation or deletion)."""
        old, new = self.old or {}, self.new or {}
        return {key: (old.get(key), new.get(key)) for key in sorted(set(old) | set(new))
                if old.get(key) != new.get(key)}
