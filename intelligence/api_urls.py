from django.urls import path

from intelligence.api import anomalies, flags, growth, ledger, pricing, risk

urlpatterns = [
    path("flags", flags.FlagListView.as_view(), name="flag-list"),
    path("intelligence/anomaly", anomalies.AnomalyView.as_view(), name="intelligence-anomaly"),
    path("intelligence/ledger", ledger.LedgerReportView.as_view(), name="intelligence-ledger"),
    path("governance/risk", risk.GovernanceRiskView.as_view(), name="governance-risk"),
    path("intelligence/pricing", pricing.PricingView.as_view(), name="intelligence-pricing"),
    path("intelligence/discounts", pricing.DiscountsView.as_view(), name="intelligence-discounts"),
    path("intelligence/growth", growth.GrowthView.as_view(), name="intelligence-growth"),
    path("intelligence/retention", growth.RetentionView.as_view(), name="intelligence-retention"),
]
