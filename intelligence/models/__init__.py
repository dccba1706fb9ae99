"""The intelligence app's tables, one module per subject."""

from intelligence.models.alerts import Alert
from intelligence.models.automation import HeldAction
from intelligence.models.incidents import Anomaly, Incident, IncidentEvent
from intelligence.models.metric_hours import MetricHour
from intelligence.models.metric_store import MetricBatch, MetricShard
from intelligence.models.metrics import MetricMinute
from intelligence.models.runtime import RuntimeSetting, RuntimeSettingChange

__all__ = ["Alert", "Anomaly", "HeldAction", "Incident", "IncidentEvent", "MetricBatch", "MetricHour",
           "MetricMinute", "MetricShard", "RuntimeSetting", "RuntimeSettingChange"]
