from django.contrib import admin
from django.urls import include, path
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularJSONAPIView, SpectacularRedocView

from accounts import views as account_views
from jobs import ops
from jobs import views as job_views
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
    path("login", account_views.login_page, name="login"),
    path("login/confirm", account_views.login_confirm, name="login-confirm"),
    path("logout", account_views.logout_page, name="logout"),
    path("account", account_views.account_page, name="account"),
    path("developer", account_views.developer_page, name="developer"),
    path("developer/keys/<uuid:key_id>/rotate", account_views.developer_key_rotate, name="developer-key-rotate"),
    path("developer/keys/<uuid:key_id>/revoke", account_views.developer_key_revoke, name="developer-key-revoke"),
    path("dashboard", job_views.dashboard, name="dashboard"),
    path("dashboard/status", job_views.dashboard_status, name="dashboard-status"),
    path("dashboard/jobs/<uuid:job_id>", job_views.job_detail, name="dashboard-job"),
    path("workflow", job_views.workflow_page, name="workflow"),
    path("health", health.health, name="health"),
    path("status", health.status, name="status"),
    path("ops/uptime", health.uptime, name="ops-uptime"),
    path("ops/queue_health", ops.queue_health, name="ops-queue-health"),
    path("public/metrics", ops.public_metrics, name="public-metrics"),
    path("public/openapi.json", SpectacularJSONAPIView.as_view(), name="openapi-public"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="openapi"),
    path("api/v1/docs", docs_view, name="api-docs"),
    path("api/v1/", include("jobs.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("compliance.api_urls")),
    path("", include("compliance.urls")),
    path("admin/", admin.site.urls),
]
