from django.conf import settings
from django.db import models


class TuneSuggestion(models.Model):
    """What auto-tune suggests for a runtime setting from the last 24 hours (the reference's
    formulas), and whether and by whom it was applied, or held."""

    class Setting(models.TextChoices):
        P95_TARGET = "p95_target", "p95_target (ms)"
        QUEUE_MAX = "queue_max", "queue_max (jobs)"

    setting = models.CharField(max_length=64, choices=Setting.choices)
    current = models.IntegerField(help_text="The setting's value when suggested.")
    suggested = models.IntegerField()
    delta = models.IntegerField(help_text="suggested - current")
    basis = models.JSONField(default=dict, blank=True, help_text="What was observed, over which window, the formula.")
    created_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)
    applied_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Empty when applied automatically (SMART_OPS_ENABLED).")
    held = models.BooleanField(default=False, help_text="Not applied automatically: stabilize mode held it.")
    note = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="tunesuggestion_created")]

    def __str__(self):
        return f"{self.setting}: {self.current} -> {self.suggested}"
