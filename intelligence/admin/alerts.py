from django import forms
from django.contrib import admin, messages

from intelligence.models import Alert, AlertChannel, AlertDelivery, AlertRoute
from intelligence.services.alert_channels import channel_state, channel_states
from intelligence.services.alerts import alert_acknowledge, alert_resolve
from levqor.admin import ReadOnlyAdmin

# --- Alerts, their deliveries, and the routes that decide them -----------------------------------


class AlertDeliveryInline(admin.TabularInline):
    model = AlertDelivery
    extra = 0
    can_delete = False
    fields = ["channel", "status", "attempts", "created_at", "last_attempt_at", "next_attempt_at", "sent_at",
              "last_error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["title", "severity", "source", "status", "count", "first_seen", "last_seen", "deliveries_shown",
                    "acknowledged_by"]
    list_filter = ["severity", "status", "source"]
    search_fields = ["title", "body", "source", "dedup_key"]
    list_select_related = ["acknowledged_by"]
    date_hierarchy = "last_seen"
    ordering = ["-last_seen"]
    inlines = [AlertDeliveryInline]
    actions = ["acknowledge", "resolve"]
    fields = ["severity", "source", "title", "body", "dedup_key", "status", "count", "first_seen", "last_seen",
              "acknowledged_by", "acknowledged_at", "resolved_by", "resolved_at"]
    readonly_fields = fields  # an alert is a record; operators change its status with the actions

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("deliveries")

    def has_add_permission(self, request):
        return False  # raised by the service (or `manage.py alert_test`), never typed in

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Deliveries")
    def deliveries_shown(self, alert):
        shown = [f"{d.channel}: {d.get_status_display().lower()}" for d in alert.deliveries.all()]
        return ", ".join(sorted(shown)) or "none (no route)"

    def _each(self, request, queryset, action, verb: str, refused: str):
        done = sum(1 for alert in queryset if action(alert=alert, by=request.user))
        skipped = queryset.count() - done
        self.message_user(request, f"{verb} {done} alert(s)." + (f" {skipped} {refused}." if skipped else ""),
                          messages.SUCCESS if done else messages.WARNING)

    @admin.action(description="Acknowledge the selected open alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        self._each(request, queryset, alert_acknowledge, "Acknowledged", "were not open")

    @admin.action(description="Resolve the selected alerts", permissions=["change"])
    def resolve(self, request, queryset):
        self._each(request, queryset, alert_resolve, "Resolved", "were resolved already")


class AlertRouteForm(forms.ModelForm):
    severities = forms.MultipleChoiceField(choices=Alert.Severity.choices, widget=forms.CheckboxSelectMultiple)
    sources = forms.CharField(required=False, help_text='Comma-separated sources ("slo, anomaly"); empty = every source.')

    class Meta:
        model = AlertRoute
        fields = ["name", "channel", "severities", "sources", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["sources"] = ", ".join(self.instance.sources or [])

    def clean_sources(self):
        return sorted({source.strip() for source in self.cleaned_data["sources"].split(",") if source.strip()})

    def clean_severities(self):
        chosen = set(self.cleaned_data["severities"])
        return [severity.value for severity in Alert.Severity if severity in chosen]


@admin.register(AlertRoute)
class AlertRouteAdmin(admin.ModelAdmin):
    form = AlertRouteForm
    list_display = ["name", "channel", "severities_shown", "sources_shown", "enabled", "channel_state_shown"]
    list_editable = ["enabled"]
    list_filter = ["channel", "enabled"]
    readonly_fields = ["channel_state_shown"]
    change_list_template = "intelligence/admin/alertroute_change_list.html"

    @admin.display(description="Severities")
    def severities_shown(self, route):
        return ", ".join(route.severities) or "none"

    @admin.display(description="Sources")
    def sources_shown(self, route):
        return ", ".join(route.sources) or "every source"

    @admin.display(description="Channel")
    def channel_state_shown(self, route):
        if not route.channel:
            return "-"
        state = channel_state(route.channel)
        return ("Configured. " if state.configured else "") + state.detail

    def changelist_view(self, request, extra_context=None):
        states = channel_states()
        channels = [{"label": channel.label, "configured": states[channel.value].configured,
                     "detail": states[channel.value].detail} for channel in AlertChannel]
        return super().changelist_view(request, {**(extra_context or {}), "alert_channels": channels})


@admin.register(AlertDelivery)
class AlertDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["alert", "channel", "status", "attempts", "created_at", "next_attempt_at", "sent_at", "last_error"]
    list_filter = ["status", "channel"]
    search_fields = ["alert__title", "last_error"]
    list_select_related = ["alert"]
    ordering = ["-created_at"]
