"""Every autoscale decision kept (read-only): what it did, from how many workers to how many, the
figures it stood on and why. The page with its charts is intelligence.admin_autoscale."""

from django.contrib import admin

from intelligence.models import AutoscaleDecision
from levqor.admin import ReadOnlyAdmin


@admin.register(AutoscaleDecision)
class AutoscaleDecisionAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "previous_workers", "desired_workers", "p95", "queue", "margin", "spend",
                    "held_by", "reason")
    list_filter = ("action", "held_by")
    date_hierarchy = "minute"
    ordering = ("-minute",)
    fields = ("at", "action", "previous_workers", "desired_workers", "held_by", "reason", "metrics")

    @admin.display(description="p95 ms")
    def p95(self, obj):
        return obj.metrics.get("p95_ms")

    @admin.display(description="queue")
    def queue(self, obj):
        return obj.metrics.get("queue_depth")

    @admin.display(description="margin %")
    def margin(self, obj):
        frozen = " (frozen)" if obj.metrics.get("profit_frozen") else ""
        return f"{obj.metrics.get('profit_margin_pct')}{frozen}"

    @admin.display(description="spend 24 h USD")
    def spend(self, obj):
        frozen = " (frozen)" if obj.metrics.get("spend_frozen") else ""
        return f"{obj.metrics.get('spend_24h')}{frozen}"
