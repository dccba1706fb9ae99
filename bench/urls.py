"""The project's URLs plus the baselines, served by the same gunicorn in the same run. The obvious
intake sits under /api/v1/ so the same middleware counts it the same way (rate limits, request log)."""

from django.urls import path

from bench import baseline
from levqor.urls import handler400, handler403, handler404, handler500  # noqa: F401
from levqor.urls import urlpatterns as levqor_urlpatterns

urlpatterns = [
    path("bench/bare", baseline.bare, name="bench-bare"),
    path("bench/drf", baseline.MinimalDrfView.as_view(), name="bench-drf"),
    path("api/v1/bench/obvious-intake", baseline.ObviousIntakeView.as_view(), name="bench-obvious-intake"),
    *levqor_urlpatterns,
]
