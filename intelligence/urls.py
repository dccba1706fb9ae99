from django.urls import include, path

from intelligence.api import stabilize

urlpatterns = [
    path("ops/stabilize", stabilize.StabilizeStateView.as_view(), name="ops-stabilize"),
    path("admin/money/ledger/", include("intelligence.admin_ledger")),  # the profit ledger (staff); before admin/
]
