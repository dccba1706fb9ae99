from django.urls import path

from intelligence.api import anomalies, flags, ledger, risk

urlpatterns = [
    path("flags", flags.FlagListView.as_view(), name="flag-list"),
    path("intelligence/anomaly", anomalies.AnomalyView.as_view(), name="intelligence-anomaly"),
    path("intelligence/ledger", ledger.LedgerReportView.as_view(), name="intelligence-ledger"),
    path("governance/risk", risk.GovernanceRiskView.as_view(), name="governance-risk"),
]
