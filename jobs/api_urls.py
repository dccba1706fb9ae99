from django.urls import path

from jobs import api

urlpatterns = [
    path("jobs", api.job_collection_view, name="job-list"),
    path("jobs/<uuid:job_id>", api.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/cancel", api.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/retry", api.JobRetryView.as_view(), name="job-retry"),
    path("intake", api.intake_view, name="intake"),
    path("status/<uuid:job_id>", api.LegacyStatusView.as_view(), name="legacy-status"),
    path("workflows", api.WorkflowListView.as_view(), name="workflow-list"),
]
