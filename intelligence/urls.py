from django.urls import include, path

from intelligence.api import autoscale, stabilize

urlpatterns = [
    path("ops/stabilize", stabilize.StabilizeStateView.as_view(), name="ops-stabilize"),
    path("admin/money/ledger/", include("intelligence.admin_ledger")),  # the profit ledger (staff); before admin/
    path("ops/autoscale", autoscale.AutoscaleView.as_view(), name="ops-autoscale"),
    path("ops/autoscale/metrics", autoscale.AutoscaleMetricView.as_view(), name="ops-autoscale-metrics"),
    path("ops/autoscale/prometheus", autoscale.AutoscalePrometheusView.as_view(), name="ops-autoscale-prometheus"),
]
