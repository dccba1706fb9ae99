"""Runtime settings in the admin: each knob edited with a required reason, through
runtime_setting_set (audited: who, when, old -> new, why; seen by every process within a second),
and the history of changes, read-only. Knobs nobody has set yet are listed at their defaults."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from intelligence.models import RuntimeSetting, RuntimeSettingChange
from intelligence.services.runtime import RUNTIME_DEFAULTS, runtime_setting_get, runtime_setting_set
from levqor.admin import ReadOnlyAdmin

_TRUE, _FALSE = {"true", "on", "yes", "1"}, {"false", "off", "no", "0"}
# The smallest value each whole-number knob may take.
_MINIMUM = {"queue_max": 1, "p95_target": 1}


def runtime_value_parse(name: str, raw) -> object:
    """A knob's value typed from what an operator wrote; ValidationError when it does not fit."""
    _default, kind = RUNTIME_DEFAULTS[name]
    text = str(raw).strip().lower()
    if kind is bool:
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise forms.ValidationError("Write true or false.")
    try:
        value = int(text)
    except ValueError:
        raise forms.ValidationError("Write a whole number.") from None
    if value < _MINIMUM.get(name, 0):
        raise forms.ValidationError(f"It must be at least {_MINIMUM.get(name, 0)}.")
    return value


class RuntimeSettingForm(forms.ModelForm):
    name = forms.ChoiceField(choices=[(name, name) for name in RUNTIME_DEFAULTS])
    value = forms.CharField(help_text="A whole number (queue_max, p95_target in ms) or true / false "
                                      "(pause_low_priority).")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), strip=True,
                             help_text="Why this change: kept in the change history with who and when. Required.")

    class Meta:
        model = RuntimeSetting
        fields = ("name", "value")

    def clean(self):
        cleaned = super().clean()
        name = cleaned.get("name") or (self.instance.name if self.instance.pk else None)
        if name and "value" in cleaned:
            try:
                cleaned["value"] = runtime_value_parse(name, cleaned["value"])
            except forms.ValidationError as exc:
                self.add_error("value", exc)
        return cleaned


@admin.register(RuntimeSetting)
class RuntimeSettingAdmin(admin.ModelAdmin):
    form = RuntimeSettingForm
    list_display = ("name", "value", "default", "updated_at", "updated_by")
    list_select_related = ("updated_by",)
    change_list_template = "admin/intelligence/runtimesetting/change_list.html"

    def get_fields(self, request, obj=None):
        return ("name", "value", "reason") if obj is None else ("name", "value", "reason", "updated_at", "updated_by",
                                                               "history")

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("name", "updated_at", "updated_by", "history")

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        name = initial.get("name")
        if name in RUNTIME_DEFAULTS:
            initial.setdefault("value", runtime_setting_get(name))
        return initial

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="default")
    def default(self, obj):
        return RUNTIME_DEFAULTS[obj.name][0] if obj.name in RUNTIME_DEFAULTS else "-"

    @admin.display(description="history")
    def history(self, obj):
        url = reverse("admin:intelligence_runtimesettingchange_changelist") + f"?name={obj.name}"
        return format_html('<a href="{}">Changes of {}</a>', url, obj.name)

    def save_model(self, request, obj, form, change):
        """Through the service (audited, caches cleared), never a plain save."""
        change_row = runtime_setting_set(obj.name, form.cleaned_data["value"], actor=request.user, source="admin",
                                         reason=form.cleaned_data["reason"])
        if change_row is None:
            messages.info(request, f"{obj.name} already was {form.cleaned_data['value']}; nothing changed.")

    def changelist_view(self, request, extra_context=None):
        set_names = set(RuntimeSetting.objects.values_list("name", flat=True))
        unset = [{"name": name, "default": default,
                  "add_url": reverse("admin:intelligence_runtimesetting_add") + f"?name={name}"}
                 for name, (default, _kind) in RUNTIME_DEFAULTS.items() if name not in set_names]
        return super().changelist_view(request, {**(extra_context or {}), "runtime_unset": unset})


@admin.register(RuntimeSettingChange)
class RuntimeSettingChangeAdmin(ReadOnlyAdmin):
    list_display = ("at", "name", "old_value", "new_value", "who", "source", "reason")
    list_filter = ("name", "source")
    search_fields = ("name", "reason", "actor__email")
    list_select_related = ("actor",)
    date_hierarchy = "at"

    @admin.display(description="who")
    def who(self, obj):
        return obj.actor.email if obj.actor_id and obj.actor else "-"
