from django.db import models

from intelligence.models.metrics import MetricFigures


class MetricShard(MetricFigures):
    """One process's figures for one finished minute of one series and label set, waiting for the
    rollup to add them into MetricMinute (the embedded mode: no Redis, and the worker cannot read a
    web process's memory). Written by the process, one INSERT per minute; deleted by the rollup in
    the transaction that adds them, so they are counted exactly once."""

    minute = models.DateTimeField(help_text="Start of the minute, UTC.")
    value = models.FloatField(null=True, blank=True)
    written_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["minute"], name="metricshard_minute")]

    def __str__(self):
        return f"{self.series}{{{self.labels_key}}} @ {self.minute:%Y-%m-%d %H:%M} (pending)"


class MetricBatch(models.Model):
    """A minute claimed from the Redis store whose figures were added into MetricMinute, recorded in
    the same transaction: a rollup that finds the claim again (its predecessor died before releasing
    it, or two ran at once) does not add it twice."""

    batch = models.CharField(max_length=100, unique=True, help_text='"<minute epoch>:<claim id>"')
    applied_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["applied_at"], name="metricbatch_applied")]

    def __str__(self):
        return self.batch
