from django.db import models


class MetricFigures(models.Model):
    """What every metric row holds for one series and set of labels: a count, an error count, the
    sum of the timings and their fixed-bucket histogram (bucket index -> count; buckets at most
    10 % apart, levqor.histogram), which add up across processes, minutes and hours."""

    series = models.CharField(max_length=64, help_text='e.g. "http.request", "job.run", "job.wait", "queue.depth"')
    labels = models.JSONField(default=dict, blank=True)
    labels_key = models.CharField(max_length=255, blank=True, default="",
                                  help_text="The labels as sorted k=v pairs: one row per period, series and labels.")
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    sum_ms = models.FloatField(default=0)
    histogram = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True


class MetricPercentiles(MetricFigures):
    """A rolled-up row: its p50/p95/p99, read from its histogram."""

    p50_ms = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)
    p99_ms = models.FloatField(null=True, blank=True)

    class Meta:
        abstract = True


class MetricMinute(MetricPercentiles):
    """One minute of one series for one set of labels, rolled up from every process's samples.
    Timings (request duration, job run time, queue wait) keep their figures; gauges (queue depth)
    keep their reading in `value`."""

    minute = models.DateTimeField(help_text="Start of the minute, UTC.")
    value = models.FloatField(null=True, blank=True, help_text="A gauge's reading (queue depth).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["minute", "series", "labels_key"], name="metricminute_one_row")]
        indexes = [models.Index(fields=["series", "minute"], name="metricminute_series_minute")]

    def __str__(self):
        return f"{self.series}{{{self.labels_key}}} @ {self.minute:%Y-%m-%d %H:%M}"
