from django.urls import path

from intelligence.api import stabilize

urlpatterns = [
    path("ops/stabilize", stabilize.StabilizeStateView.as_view(), name="ops-stabilize"),
]
