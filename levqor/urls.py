from django.contrib import admin
from django.urls import include, path
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularJSONAPIView, SpectacularRedocView

from jobs import ops
from levqor import health
from levqor.security import docs_page_policy

handler400 = "levqor.errors.handler400"
handler403 = "levqor.errors.handler403"
handler404 = "levqor.errors.handler404"
handler500 = "levqor.errors.handler500"

docs_view = method_decorator(docs_page_policy, name="dispatch")(SpectacularRedocView).as_view(url_name="openapi")

urlpatterns = [
    path("", health.root, name="root"),
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
