from django.db import models

# The lengths spans are kept in: quarter hours (the dashboard's day, 96 points) and hours (its week, 168).
SPAN_LENGTHS = (15, 60)


class MetricSpan(models.Model):
    """A quarter hour or an hour of one series for one set of labels: the MetricMinute rows of
    that span added up (counts, errors, sums, histograms merged; a gauge's average and maximum),
    kept so that the operations dashboard reads a day or a week without merging thousands of
    per-minute histograms on each view. Written only by intelligence.services.metric_spans, from
    the minutes; the minutes stay the record."""

    minutes = models.PositiveSmallIntegerField(help_text="The span's length: 15 or 60 minutes.")
    start = models.DateTimeField(help_text="Start of the span, UTC.")
    series = models.CharField(max_length=64)
    labels = models.JSONField(default=dict, blank=True)
    labels_key = models.CharField(max_length=255, blank=True, default="")
    rows = models.PositiveSmallIntegerField(help_text="How many minute rows were added up.")
    count = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    sum_ms = models.FloatField(default=0)
    histogram = models.JSONField(default=dict, blank=True)
    value = models.FloatField(null=True, blank=True, help_text="A gauge's average over its minutes.")
    value_max = models.FloatField(null=True, blank=True, help_text="A gauge's highest reading in the span.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["minutes", "start", "series", "labels_key"],
                                               name="metricspan_one_row")]

    def __str__(self):
        return f"{self.series}{{{self.labels_key}}} @ {self.start:%Y-%m-%d %H:%M} +{self.minutes}m"
