from django.contrib import admin
from django.urls import include, path
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularJSONAPIView, SpectacularRedocView

from levqor import health, pages
from levqor.security import docs_page_policy

handler400 = "levqor.http_errors.handler400"
handler403 = "levqor.http_errors.handler403"
handler404 = "levqor.http_errors.handler404"
handler500 = "levqor.http_errors.handler500"

docs_view = method_decorator(docs_page_policy, name="dispatch")(SpectacularRedocView).as_view(url_name="openapi")

urlpatterns = [
    # / answers JSON to API clients (the old contract) and the home page to browsers.
    path("", pages.root, name="root"),
    path("privacy", pages.privacy, name="privacy"),
    path("terms", pages.terms, name="terms"),
    path("cookies", pages.cookies, name="cookies"),
    path("faq", pages.faq, name="faq"),
    path("security", pages.security, name="security"),
    path("health", health.health, name="health"),
    path("status", health.status, name="status"),
    path("ops/uptime", health.uptime, name="ops-uptime"),
    path("public/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-public"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="openapi"),
    path("api/v1/docs", docs_view, name="api-docs"),
    # Each app's pages and its API (its urls and api_urls modules).
    # The API first: the resolver tries patterns in order, and every API request (the intake above
    # all) would otherwise be matched against each page's pattern before its own. No page pattern
    # starts with api/v1/, so the order changes no route.
    path("api/v1/", include("jobs.api_urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("compliance.api_urls")),
    path("api/v1/", include("intelligence.api_urls")),
    path("api/v1/", include("partners.api_urls")),
    path("api/v1/billing/", include("marketplace.api_urls")),
    path("api/v1/marketplace/", include("marketplace.store_api_urls")),
    path("api/v1/webhooks/", include("levqor.webhooks.api_urls")),
    path("", include("accounts.urls")),
    path("", include("jobs.urls")),
    path("", include("compliance.urls")),
    path("", include("intelligence.urls")),
    path("", include("partners.urls")),
    path("", include("levqor.webhooks.urls")),
    path("", include("marketplace.urls")),
    path("api/partners", include("partners.legacy_api_urls")),  # the old service's paths
    path("api/marketplace/", include("marketplace.legacy_api_urls")),  # the old service's paths
    path("admin/operations/", include("intelligence.admin_dashboard")),  # the operations dashboard (staff)
    path("admin/partners/risk/", include("intelligence.admin_risk")),  # the governance risk score (staff)
    path("admin/money/autoscale/", include("intelligence.admin_autoscale")),  # profit-driven autoscale (staff)
    path("admin/money/growth/", include("intelligence.admin_growth")),  # growth funnel and retention (staff)
    path("admin/", admin.site.urls),
]
