"""Feature flags, switches and samples (django-waffle's own admin pages), with a reason required
for every change and every change kept in the flag audit (read-only here).

waffle's bulk actions (enable/disable/delete selected) are left out: they change flags without a
reason. Deleting is left out too: a flag that gates code is turned off, not removed."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from waffle import get_waffle_flag_model, get_waffle_sample_model, get_waffle_switch_model
from waffle.admin import FlagAdmin, SampleAdmin, SwitchAdmin

from intelligence.models import FlagChange
from intelligence.services.flag_audit import flag_change_context
from levqor.admin import ReadOnlyAdmin

REASON_HELP = "Why this change: kept in the flag audit with who and when. Required."


class ReasonForm(forms.ModelForm):
    """A waffle model's admin form, with the reason the audit keeps."""

    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), help_text=REASON_HELP, strip=True)


class _AuditedWaffleAdmin:
    """Mixed into waffle's admin classes: the form asks for a reason, and the change (fields and
    users/groups together) is written to the flag audit in the admin's own transaction."""

    actions = []
    form = ReasonForm
    readonly_fields = ("audit_trail",)

    def get_fields(self, request, obj=None):
        fields = [f for f in super().get_fields(request, obj) if f not in ("reason", "audit_trail")]
        return [*fields, "reason", *(["audit_trail"] if obj is not None else [])]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with flag_change_context(actor=request.user, reason=None, source="admin") as batch:
            request.flag_change_batch = batch
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        request.flag_change_batch.reason = form.cleaned_data["reason"]
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        request.flag_change_batch.flush()  # inside the admin's transaction, users and groups included

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Audit")
    def audit_trail(self, obj):
        count = FlagChange.objects.filter(name=obj.name).count()
        url = reverse("admin:intelligence_flagchange_changelist") + f"?name={obj.name}"
        return format_html('<a href="{}">{} change(s) of {}</a>', url, count, obj.name)


class AuditedFlagAdmin(_AuditedWaffleAdmin, FlagAdmin):
    pass


class AuditedSwitchAdmin(_AuditedWaffleAdmin, SwitchAdmin):
    pass


class AuditedSampleAdmin(_AuditedWaffleAdmin, SampleAdmin):
    pass


for _model, _admin_class in ((get_waffle_flag_model(), AuditedFlagAdmin), (get_waffle_switch_model(), AuditedSwitchAdmin),
                             (get_waffle_sample_model(), AuditedSampleAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)


@admin.register(FlagChange)
class FlagChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "name", "what_changed", "who", "source", "reason")
    list_filter = ("kind", "source")
    search_fields = ("name", "reason", "actor__email", "actor_label")
    date_hierarchy = "at"
    list_select_related = ("actor",)
    fields = ("at", "kind", "name", "who", "source", "reason", "what_changed", "old", "new")
    readonly_fields = fields

    @admin.display(description="who")
    def who(self, obj):
        return obj.actor.email if obj.actor_id and obj.actor else (obj.actor_label or "-")

    @admin.display(description="old -> new")
    def what_changed(self, obj):
        if obj.old is None:
            return "created"
        if obj.new is None:
            return "deleted"
        return format_html_join(mark_safe("<br>"), "{}: {} -> {}",
                                ((key, old, new) for key, (old, new) in obj.changed().items()))
