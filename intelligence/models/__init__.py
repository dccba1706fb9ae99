"""The intelligence app's tables, one module per subject."""

from intelligence.models.alerts import Alert
from intelligence.models.automation import HeldAction
from intelligence.models.metrics import MetricMinute

__all__ = ["Alert", "HeldAction", "MetricMinute"]
