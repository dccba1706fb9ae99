"""The governance risk score as a page of the admin (staff only): /admin/partners/risk/. The score,
its level, the inputs and each deduction with its cause (intelligence.services.risk)."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from intelligence.services.risk import governance_risk


def governance_risk_page(request):
    context = {**admin.site.each_context(request), "title": "Governance risk", "risk": governance_risk()}
    return TemplateResponse(request, "intelligence/risk.html", context)


urlpatterns = [path("", admin.site.admin_view(governance_risk_page), name="governance-risk-admin")]
