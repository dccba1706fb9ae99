"""The intelligence app's tables, one module per subject."""

from intelligence.models.alerts import Alert
from intelligence.models.automation import HeldAction
from intelligence.models.autoscale import AutoscaleDecision
from intelligence.models.flags import FlagChange
from intelligence.models.growth import GrowthDay, GrowthEvent, GrowthRevenueDay, RetentionCohort, RetentionDay
from intelligence.models.incidents import Anomaly, Incident, IncidentEvent
from intelligence.models.ledger import InfraCost, LedgerEntry
from intelligence.models.metric_hours import MetricHour
from intelligence.models.metric_store import MetricBatch, MetricShard
from intelligence.models.metrics import MetricMinute
from intelligence.models.notion import NotionPage, NotionSyncRun
from intelligence.models.pricing import DiscountSuggestion, PriceSuggestion
from intelligence.models.reports import IntegrityRun, Report
from intelligence.models.routing import AlertChannel, AlertDelivery, AlertRoute
from intelligence.models.runtime import RuntimeSetting, RuntimeSettingChange
from intelligence.models.stabilize import StabilizeEvent
from intelligence.models.tuning import TuneSuggestion
from intelligence.models.watchdog import AnomalySeries, IncidentRecovery, SloCheck

__all__ = ["Alert", "AlertChannel", "AlertDelivery", "AlertRoute", "Anomaly", "AnomalySeries", "AutoscaleDecision",
           "DiscountSuggestion", "FlagChange", "GrowthDay", "GrowthEvent", "GrowthRevenueDay", "HeldAction",
           "Incident", "IncidentEvent", "IncidentRecovery", "InfraCost", "IntegrityRun", "LedgerEntry",
           "MetricBatch", "MetricHour", "MetricMinute", "MetricShard", "NotionPage", "NotionSyncRun", "PriceSuggestion",
           "Report",
           "RetentionCohort", "RetentionDay", "RuntimeSetting", "RuntimeSettingChange", "SloCheck", "StabilizeEvent",
           "TuneSuggestion"]
