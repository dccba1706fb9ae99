from django.conf import settings
from django.db import models


class StabilizeEvent(models.Model):
    """Stabilize mode turned on or off (append-only): who, when, why, from where. The latest one
    says since when, by whom and why the present state holds (the admin banner, /ops/stabilize)."""

    at = models.DateTimeField()
    enabled = models.BooleanField(help_text="On (True) or off (False) from this moment.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_label = models.CharField(max_length=200, blank=True, default="",
                                   help_text="Who, when no user account did it (a command line).")
    source = models.CharField(max_length=32, help_text='"admin", "command", "direct", ...')
    reason = models.TextField()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["-at"], name="stabilizeevent_at")]
        verbose_name = "stabilize mode change"
        verbose_name_plural = "stabilize mode"

    def __str__(self):
        return f"stabilize {'on' if self.enabled else 'off'} at {self.at:%Y-%m-%d %H:%M:%S}"

    @property
    def by(self) -> str:
        """Who, in words: the user's email, else the label, else where it came from."""
        if self.actor_id is not None and self.actor is not None:
            return self.actor.email
        return self.actor_label or self.source
