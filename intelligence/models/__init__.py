"""The intelligence app's tables, one module per subject."""

from intelligence.models.alerts import Alert
from intelligence.models.automation import HeldAction
from intelligence.models.flags import FlagChange
from intelligence.models.incidents import Anomaly, Incident, IncidentEvent
from intelligence.models.metrics import MetricMinute
from intelligence.models.runtime import RuntimeSetting, RuntimeSettingChange
from intelligence.models.stabilize import StabilizeEvent

__all__ = ["Alert", "Anomaly", "HeldAction", "Incident", "IncidentEvent", "MetricMinute", "RuntimeSetting",
           "RuntimeSettingChange"]
__all__ += ["FlagChange", "StabilizeEvent"]
