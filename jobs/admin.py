from django.contrib import admin

from jobs.models import Job, JobEvent
from jobs.services import job_cancel, job_retry
from levqor.errors import AppError


class JobEventInline(admin.TabularInline):
    model = JobEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "attempt", "from_status", "to_status", "duration_ms", "error_code", "error_message", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "workflow", "status", "priority", "owner", "livemode", "attempts", "estimated_cost",
                    "actual_cost", "created_at", "finished_at"]
    list_filter = ["status", "workflow", "priority", "livemode", "callback_status", "created_at"]
    search_fields = ["id", "owner__email", "workflow", "error_code", "idempotency_key"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    inlines = [JobEventInline]  # callback attempts: the job's callback_attempt events, and Webhook deliveries
    actions = ["retry_jobs", "cancel_jobs"]
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # jobs and their event logs are the audit record

    def _each(self, request, queryset, action, verb):
        done, refused = 0, []
        for job in queryset.select_related("owner"):
            try:
                action(job=job)
                done += 1
            except AppError as exc:
                refused.append(f"{job.pk}: {exc.message}")
        self.message_user(request, f"{verb} {done} job(s)." + (f" Refused: {'; '.join(refused[:10])}" if refused else ""))

    @admin.action(description="Retry the selected failed or cancelled jobs")
    def retry_jobs(self, request, queryset):
        self._each(request, queryset, job_retry, "Retried")

    @admin.action(description="Cancel the selected queued or running jobs")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, job_cancel, "Cancelled")
