from django.conf import settings
from django.db import models


class RuntimeSetting(models.Model):
    """A knob operators (and auto-tune) turn while the service runs, kept in the database and read
    from the cache: queue_max (intake backpressure), p95_target, pause_low_priority."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.JSONField()
    updated_at = models.DateTimeField()
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    def __str__(self):
        return f"{self.name} = {self.value}"


class RuntimeSettingChange(models.Model):
    """Every change of a runtime setting (append-only): who or what, when, old -> new, why."""

    name = models.CharField(max_length=64, db_index=True)
    at = models.DateTimeField()
    old_value = models.JSONField(null=True)
    new_value = models.JSONField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    source = models.CharField(max_length=64, help_text='"admin", "autotune", "incident", "command", ...')
    reason = models.TextField()

    class Meta:
        ordering = ["-at"]

    def __str__(self):
        return f"{self.name}: {self.old_value} -> {self.new_value} ({self.source})"
