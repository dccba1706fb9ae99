from django.db import models


class HeldAction(models.Model):
    """An automatic change that was not made, and why (append-only): while stabilize mode is on,
    every automatic action is held and recorded here with the reason "stabilize_mode"."""

    at = models.DateTimeField()
    action = models.CharField(max_length=64, help_text='e.g. "autotune.apply", "incident.autorecover"')
    reason = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["-at"], name="heldaction_at")]

    def __str__(self):
        return f"{self.action} held ({self.reason}) at {self.at:%Y-%m-%d %H:%M:%S}"
