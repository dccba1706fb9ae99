from django.db import models

from intelligence.models.metrics import MetricPercentiles


class MetricHour(MetricPercentiles):
    """One hour of one series for one set of labels: the sum of its MetricMinute rows, kept by the
    rollup in the same transaction as the minutes, so that reads of days and weeks merge 60 times
    fewer histograms (intelligence.selectors.metrics picks them for whole hours). A gauge keeps
    its highest reading of the hour."""

    hour = models.DateTimeField(help_text="Start of the hour, UTC.")
    value = models.FloatField(null=True, blank=True, help_text="A gauge's highest reading in the hour.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hour", "series", "labels_key"], name="metrichour_one_row")]
        indexes = [models.Index(fields=["series", "hour"], name="metrichour_series_hour")]

    def __str__(self):
        return f"{self.series}{{{self.labels_key}}} @ {self.hour:%Y-%m-%d %H}:00"
