"""Stabilize mode in the admin: its history (read-only) and a page that turns it on or off with a
required reason (staff who may change waffle switches; CSRF as every admin form)."""

from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from intelligence.models import HeldAction, StabilizeEvent
from intelligence.services.stabilize import stabilize_off, stabilize_on, stabilize_state
from levqor.admin import ReadOnlyAdmin
from levqor.errors import AppError

# Who may turn it: whoever may change waffle switches (superusers always).
TURN_PERMISSION = "waffle.change_switch"


class StabilizeForm(forms.Form):
    action = forms.ChoiceField(choices=[("on", "Turn on"), ("off", "Turn off")], widget=forms.HiddenInput)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), strip=True,
                             help_text="Why: shown in the banner on every admin page, kept in the audit, sent with the "
                                       "alert. Required.")


@admin.register(StabilizeEvent)
class StabilizeEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "state", "who", "source", "reason")
    list_filter = ("enabled", "source")
    list_select_related = ("actor",)
    date_hierarchy = "at"

    @admin.display(description="turned")
    def state(self, obj):
        return "on" if obj.enabled else "off"

    @admin.display(description="by")
    def who(self, obj):
        return obj.by

    def get_urls(self):
        return [path("stabilize/", self.admin_site.admin_view(self.stabilize_view), name="intelligence_stabilize"),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra = {"stabilize_url": reverse("admin:intelligence_stabilize"), "stabilize": stabilize_state()}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def stabilize_view(self, request):
        may_turn = request.user.has_perm(TURN_PERMISSION)
        state = stabilize_state()
        form = StabilizeForm(initial={"action": "off" if state["enabled"] else "on"})
        if request.method == "POST":
            if not may_turn:
                raise PermissionDenied
            form = StabilizeForm(request.POST)
            if form.is_valid():
                turn = stabilize_on if form.cleaned_data["action"] == "on" else stabilize_off
                try:
                    event = turn(actor=request.user, reason=form.cleaned_data["reason"], source="admin")
                except AppError as exc:
                    form.add_error("reason", exc.message)
                else:
                    word = form.cleaned_data["action"]
                    if event is None:
                        messages.info(request, f"Stabilize mode was already {word}; nothing changed.")
                    else:
                        messages.success(request, f"Stabilize mode is {word}.")
                    return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "title": "Stabilize mode",
            "opts": self.model._meta,
            "state": state,
            "since": datetime.fromisoformat(state["since"]) if state["since"] else None,
            "form": form,
            "may_turn": may_turn,
            "recent": StabilizeEvent.objects.select_related("actor")[:10],
            "history_url": reverse("admin:intelligence_stabilizeevent_changelist"),
        }
        return TemplateResponse(request, "intelligence/admin/stabilize.html", context)


class HeldActionAdmin(ReadOnlyAdmin):
    """What stabilize mode held (intelligence.services.automation), read-only."""

    list_display = ("at", "action", "reason", "detail")
    list_filter = ("reason", "action")
    date_hierarchy = "at"


if not admin.site.is_registered(HeldAction):  # another subject's module may show it too
    admin.site.register(HeldAction, HeldActionAdmin)
