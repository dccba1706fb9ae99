"""Profit-driven autoscale: one decision a minute (intelligence.services.autoscale), kept with the
figures it was taken on, so the next one can tell two quiet samples in a row and operators can see
why the worker count moved."""

from django.db import models


class AutoscaleDecision(models.Model):
    class Action(models.TextChoices):
        SCALE_UP = "scale_up"
        SCALE_DOWN = "scale_down"
        FREEZE = "freeze"
        HOLD = "hold"

    class HeldBy(models.TextChoices):
        NOTHING = "", "-"
        STABILIZE = "stabilize", "stabilize mode"
        FLAG_OFF = "flag_off", "AUTOSCALE_ENABLED off"

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField()
    # One decision per minute: the schedule running twice, or the endpoint taking the first one while
    # the schedule does, cannot make two samples of one minute (and fake "two quiet samples").
    minute = models.DateTimeField(unique=True, help_text="The minute of `at`; one decision a minute.")
    action = models.CharField(max_length=16, choices=Action.choices)
    desired_workers = models.PositiveSmallIntegerField()
    previous_workers = models.PositiveSmallIntegerField(help_text="The workers wanted before this decision.")
    reason = models.CharField(max_length=500)
    held_by = models.CharField(max_length=16, choices=HeldBy.choices, blank=True, default="",
                               help_text="What held the autoscaler (stabilize mode, or the flag off); empty when it "
                                         "decided.")
    metrics = models.JSONField(default=dict, help_text="The figures the decision was taken on.")

    # No index beside minute's own (unique): the latest, the history's range and the purge all read by minute.

    def __str__(self):
        return f"{self.action} to {self.desired_workers} at {self.at:%Y-%m-%d %H:%M}"
