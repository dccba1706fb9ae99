from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from intelligence.models import Anomaly, AnomalySeries, Incident, IncidentEvent, SloCheck, TuneSuggestion
from intelligence.services.autotune import autotune_run, tune_suggestion_apply
from levqor.admin import ReadOnlyAdmin

# --- anomalies, the SLO watchdog and incidents: records operators read ----------------------


@admin.register(Anomaly)
class AnomalyAdmin(ReadOnlyAdmin):
    list_display = ["series", "value", "method", "z_score", "window", "opened_at", "cleared_at"]
    list_filter = ["method", ("cleared_at", admin.EmptyFieldListFilter), "opened_at"]
    search_fields = ["series"]
    date_hierarchy = "opened_at"


@admin.register(AnomalySeries)
class AnomalySeriesAdmin(ReadOnlyAdmin):
    list_display = ["series", "ready", "anomaly", "latency_ms", "z_score", "method", "window", "scanned_until"]
    list_filter = ["anomaly", "ready", "method"]
    search_fields = ["series"]
    exclude = ["samples"]


class IncidentEventInline(admin.TabularInline):
    model = IncidentEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "message", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["title", "status", "opened_at", "resolved_at", "recovery_state"]
    list_filter = ["status", "opened_at"]
    search_fields = ["title"]
    date_hierarchy = "opened_at"
    list_select_related = ["recovery"]
    inlines = [IncidentEventInline]

    @admin.display(description="Automatic recovery")
    def recovery_state(self, obj):
        recovery = getattr(obj, "recovery", None)
        return recovery.get_state_display() if recovery is not None else "-"


@admin.register(SloCheck)
class SloCheckAdmin(ReadOnlyAdmin):
    list_display = ["window_end", "passed", "breaches", "p99_ms", "error_rate_pct", "request_availability_pct",
                    "worker_availability_pct", "requests", "job_runs", "incident"]
    list_filter = ["passed", "window_end"]
    date_hierarchy = "window_end"
    list_select_related = ["incident"]


# --- auto-tune: suggestions an operator applies, and a run on demand -------------------------


@admin.register(TuneSuggestion)
class TuneSuggestionAdmin(admin.ModelAdmin):
    list_display = ["setting", "current", "suggested", "delta", "created_at", "applied_at", "applied_by", "held",
                    "note"]
    list_filter = ["setting", "held", ("applied_at", admin.EmptyFieldListFilter), "created_at"]
    list_select_related = ["applied_by"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in TuneSuggestion._meta.fields]
    actions = ["apply_suggestions"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # what was suggested and applied is the record

    @admin.action(description="Apply the selected suggestions (audited runtime-setting changes)",
                  permissions=["change"])
    def apply_suggestions(self, request, queryset):
        applied, skipped = [], []
        for suggestion in queryset.order_by("created_at"):
            if suggestion.applied_at is not None:
                skipped.append(f"#{suggestion.pk} was applied already")
                continue
            change = tune_suggestion_apply(suggestion=suggestion, actor=request.user)
            applied.append(f"{suggestion.setting} = {suggestion.suggested}" if change is not None
                           else f"{suggestion.setting} was {suggestion.suggested} already")
        level = messages.SUCCESS if applied else messages.WARNING
        self.message_user(request, "; ".join([*(f"Applied {done}" for done in applied), *skipped]), level)

    def get_urls(self):
        run = self.admin_site.admin_view(self.run_view)
        return [path("run/", run, name="intelligence_tunesuggestion_run"), *super().get_urls()]

    def run_view(self, request):
        """Run auto-tune now (the button on the list): suggestions only, an operator applies them."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        suggestions = autotune_run()
        if suggestions:
            self.message_user(request, "Auto-tune suggests: " + "; ".join(
                f"{each.setting} {each.current} -> {each.suggested} ({each.delta:+d})" for each in suggestions))
        else:
            self.message_user(request, "No suggestion: no requests and no queue readings in the last 24 hours.",
                              messages.WARNING)
        return HttpResponseRedirect(reverse("admin:intelligence_tunesuggestion_changelist"))
