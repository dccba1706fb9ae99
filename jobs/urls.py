from django.urls import path

from jobs import ops, views

urlpatterns = [
    path("dashboard", views.dashboard, name="dashboard"),
    path("dashboard/status", views.dashboard_status, name="dashboard-status"),
    path("dashboard/jobs/<uuid:job_id>", views.job_detail, name="dashboard-job"),
    path("workflow", views.workflow_page, name="workflow"),
    path("ops/queue_health", ops.queue_health, name="ops-queue-health"),
    path("public/metrics", ops.public_metrics, name="public-metrics"),
]
