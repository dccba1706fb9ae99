from django.urls import path

from intelligence.api import anomalies

urlpatterns = [
    path("intelligence/anomaly", anomalies.AnomalyView.as_view(), name="intelligence-anomaly"),
]
