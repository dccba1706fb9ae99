"""The project's URLs plus the two baselines, served by the same gunicorn in the same run."""

from django.urls import path

from bench import baseline
from levqor.urls import handler400, handler403, handler404, handler500  # noqa: F401
from levqor.urls import urlpatterns as levqor_urlpatterns

urlpatterns = [
    path("bench/bare", baseline.bare, name="bench-bare"),
    path("bench/drf", baseline.MinimalDrfView.as_view(), name="bench-drf"),
    *levqor_urlpatterns,
]
