"""Webhook endpoints and deliveries in Django admin: list, filter, enable/disable, replay. Secrets are
never shown (they are not editable fields, and no view lists them); attempts are read-only records."""

from django.contrib import admin, messages

from levqor.errors import AppError
from levqor.webhooks.endpoints import webhook_endpoint_disable, webhook_endpoint_enable
from levqor.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from levqor.webhooks.replay import webhook_deliveries_replay_failed, webhook_delivery_replay


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "audience", "enabled", "consecutive_failures", "event_types", "created_at",
                    "disabled_at"]
    list_filter = ["audience", "enabled"]
    search_fields = ["url", "owner__email"]
    list_select_related = ["owner"]
    ordering = ["-created_at"]
    actions = ["enable", "disable"]
    fields = ["id", "owner", "audience", "url", "description", "event_types", "enabled", "disabled_reason",
              "disabled_at", "consecutive_failures", "created_at", "updated_at", "rotated_at",
              "previous_secret_expires_at"]
    readonly_fields = fields  # owners manage their endpoints (API, /webhooks); staff enable or disable

    def has_add_permission(self, request):
        return False

    @admin.action(description="Enable the selected endpoints (their failure count starts from 0)",
                  permissions=["change"])
    def enable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_enable(endpoint=endpoint)
        self.message_user(request, f"Enabled {queryset.count()} endpoint(s).", messages.SUCCESS)

    @admin.action(description="Disable the selected endpoints", permissions=["change"])
    def disable(self, request, queryset):
        for endpoint in queryset:
            webhook_endpoint_disable(endpoint=endpoint, reason=f"Disabled by staff ({request.user.email}).")
        self.message_user(request, f"Disabled {queryset.count()} endpoint(s).", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "url", "status_code", "succeeded", "duration_ms", "response_snippet", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class DeliveryTargetFilter(admin.SimpleListFilter):
    """Endpoint deliveries, or messages to a URL that is not an endpoint (job callbacks)."""

    title = "target"
    parameter_name = "target"

    def lookups(self, request, model_admin):
        return [("endpoint", "An endpoint"), ("url", "A callback URL (no endpoint)")]

    def queryset(self, request, queryset):
        if self.value() == "endpoint":
            return queryset.filter(endpoint__isnull=False)
        if self.value() == "url":
            return queryset.filter(endpoint__isnull=True)
        return queryset


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event_type", "url", "owner", "status", "attempts", "replays", "last_status_code", "created_at",
                    "next_attempt_at"]
    list_filter = ["status", DeliveryTargetFilter, "event_type", "replayable"]
    search_fields = ["msg_id", "url", "owner__email", "source"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    inlines = [WebhookAttemptInline]
    actions = ["replay", "replay_failed_of_endpoints", "replay_failed_of_owners"]
    fields = ["id", "msg_id", "owner", "endpoint", "url", "event_type", "source", "status", "attempts",
              "next_attempt_at", "last_status_code", "last_error", "replays", "replayable", "created_at",
              "updated_at", "delivered_at", "body"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    @admin.action(description="Replay the selected deliveries (same message id and body)", permissions=["change"])
    def replay(self, request, queryset):
        done, refused = 0, []
        for delivery in queryset.select_related("endpoint"):
            try:
                webhook_delivery_replay(delivery=delivery)
                done += 1
            except AppError as exc:
                refused.append(f"{delivery.msg_id}: {exc.message}")
        self.message_user(request, f"Replaying {done} delivery(ies).", messages.SUCCESS if done else messages.WARNING)
        for text in refused:
            self.message_user(request, f"Not replayed: {text}", messages.WARNING)

    @admin.action(description="Replay all failed deliveries of these deliveries' endpoints", permissions=["change"])
    def replay_failed_of_endpoints(self, request, queryset):
        endpoint_ids = {pk for pk in queryset.values_list("endpoint_id", flat=True) if pk}
        if not endpoint_ids:
            self.message_user(request, "None of the selected deliveries has an endpoint.", messages.WARNING)
            return
        count = webhook_deliveries_replay_failed(endpoints=list(endpoint_ids))
        self.message_user(request, f"Replaying {count} failed delivery(ies) of {len(endpoint_ids)} endpoint(s).",
                          messages.SUCCESS)

    @admin.action(description="Replay every failed delivery of these deliveries' owners (endpoints and callback URLs)",
                  permissions=["change"])
    def replay_failed_of_owners(self, request, queryset):
        """Search an owner's email (or filter), select one of their deliveries: all their failed ones go
        out again, job callbacks included (those whose body was not kept are left out)."""
        owner_ids = set(queryset.values_list("owner_id", flat=True))
        count = sum(webhook_deliveries_replay_failed(owner=owner_id) for owner_id in owner_ids)
        self.message_user(request, f"Replaying {count} failed delivery(ies) of {len(owner_ids)} owner(s).",
                          messages.SUCCESS if count else messages.WARNING)
