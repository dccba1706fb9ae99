from django.db import models


class MetricMinute(models.Model):
    """One minute of one series for one set of labels, rolled up from every process's samples.

    Timings (request duration, job run time, queue wait) keep a count, an error count, their sum
    and a fixed-bucket histogram (bucket index -> count; buckets at most 10 % apart), from which
    p50/p95/p99 are read and which add up across processes and across minutes. Gauges (queue
    depth) keep their reading in `value`."""

    minute = models.DateTimeField(help_text="Start of the minute, UTC.")
    series = models.CharField(max_length=64, help_text='e.g. "http.request", "job.run", "job.wait", "queue.depth"')
    labels = models.JSONField(default=dict, blank=True)
    labels_key = models.CharField(max_length=255, blank=True, default="",
                                  help_text="The labels as sorted k=v pairs: one row per minute, series and labels.")
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    sum_ms = models.FloatField(default=0)
    histogram = models.JSONField(default=dict, blank=True)
    p50_ms = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)
    p99_ms = models.FloatField(null=True, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="A gauge's reading (queue depth).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["minute", "series", "labels_key"], name="metricminute_one_row")]
        indexes = [models.Index(fields=["series", "minute"], name="metricminute_series_minute")]

    def __str__(self):
        return f"{self.series}{{{self.labels_key}}} @ {self.minute:%Y-%m-%d %H:%M}"
