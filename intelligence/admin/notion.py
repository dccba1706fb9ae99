"""The Notion sync's log (read-only): every run of every database, what it did or why it did
nothing. The list says at the top when Notion is not configured (no token, or a database's id)."""

from django.contrib import admin, messages

from intelligence.models import NotionSyncRun
from intelligence.services.notion import notion_status
from levqor.admin import ReadOnlyAdmin


@admin.register(NotionSyncRun)
class NotionSyncRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "database", "outcome", "created", "updated", "unchanged", "failed", "requests",
                    "duration", "error", "source")
    list_filter = ("database", "outcome")
    date_hierarchy = "started_at"
    ordering = ("-started_at", "-pk")
    fields = ("database", "outcome", "started_at", "finished_at", "created", "updated", "unchanged", "failed",
              "requests", "error", "source")

    @admin.display(description="seconds")
    def duration(self, obj):
        if obj.finished_at is None:
            return "running"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f}"

    def changelist_view(self, request, extra_context=None):
        status = notion_status()
        if not status["configured"]:
            messages.warning(request, f"Notion is not configured: {status.get('detail') or 'no database id is set'}. "
                                      "Syncs are logged as skipped and send nothing.")
        elif status["not_configured"]:
            messages.info(request, "Notion databases not configured (skipped): "
                                   + ", ".join(f"NOTION_DB_{name.upper()}" for name in status["not_configured"]))
        return super().changelist_view(request, extra_context)
