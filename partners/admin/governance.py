"""Governance in admin: the versioned policy (a list of versions, each read-only; "add" makes the
next version from the current one's rules with a reason), users' reports of partners (reviewed
with a required note) and their ratings (read-only)."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, IntegerField, Subquery, Value, When
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from levqor.admin import ReadOnlyAdmin
from levqor.errors import AppError
from partners.models import PartnerRating, PartnerReport, PolicyVersion
from partners.services.policy import POLICY_FIELDS, policy_changes, policy_current, policy_version_create
from partners.services.reports import NOTE_MAX, partner_report_review

# --- the policy -----------------------------------------------------------------------------------


class PolicyVersionForm(forms.ModelForm):
    """The next version's rules. The model's own checks (PolicyVersion.clean(), the fields' limits)
    run on it as the service runs them, so errors show on the form."""

    forbidden_paths = forms.CharField(widget=forms.Textarea(attrs={"rows": 5, "cols": 40}),
                                      help_text='One path per line, each starting with "/". Partner credentials are '
                                                "refused on these paths and everything under them.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2, "cols": 80}), max_length=500, strip=True,
                             help_text="Why this version: kept with it, with who and when. Required.")

    class Meta:
        model = PolicyVersion
        fields = [*POLICY_FIELDS, "reason"]

    def clean_forbidden_paths(self):
        return [line.strip() for line in self.cleaned_data["forbidden_paths"].splitlines() if line.strip()]


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    form = PolicyVersionForm
    list_display = ["__str__", "in_force", "created_at", "created_by", "reason"]
    list_select_related = ["created_by"]
    actions = None  # no bulk delete (nor any bulk change): a version is a record
    readonly_fields = ["changes_shown"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*POLICY_FIELDS, "reason"]
        return ["version", "created_at", "created_by", "reason", "changes_shown", *POLICY_FIELDS]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.get_fields(request, obj)

    def has_change_permission(self, request, obj=None):
        return False  # never edited in place: "add" makes the next version

    def has_delete_permission(self, request, obj=None):
        return False

    def get_changeform_initial_data(self, request):
        current = policy_current()
        initial = {name: getattr(current, name) for name in POLICY_FIELDS}
        initial["forbidden_paths"] = "\n".join(current.forbidden_paths or [])
        return initial

    def get_queryset(self, request):
        top = PolicyVersion.objects.order_by("-version").values("version")[:1]
        return super().get_queryset(request).annotate(top_version=Subquery(top))

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj):
        return obj.version == getattr(obj, "top_version", None)

    @admin.display(description="changes from the version before")
    def changes_shown(self, obj):
        previous = PolicyVersion.objects.filter(version__lt=obj.version).order_by("-version").first()
        if previous is None:
            return "the first version"
        return _changes_html(policy_changes(previous, obj)) or "no rule changed"

    def save_model(self, request, obj, form, change):
        before = PolicyVersion.objects.order_by("-version").first()
        created = policy_version_create(actor=request.user, reason=form.cleaned_data["reason"],
                                        **{name: form.cleaned_data[name] for name in POLICY_FIELDS})
        for field in PolicyVersion._meta.concrete_fields:  # the admin logs and redirects with the saved row
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        changes = policy_changes(before, created)
        if changes:
            self.message_user(request, format_html("{} is in force. Changes from {}: {}", created, before,
                                                   _changes_html(changes)), messages.SUCCESS)
        else:
            self.message_user(request, f"{created} is in force; it changes no rule of {before or 'the default'}.",
                              messages.WARNING)


def _changes_html(changes):
    return format_html_join(mark_safe("; "), "{}: {} &rarr; {}", ((name, old, new) for name, old, new in changes))


# --- reports and ratings -----------------------------------------------------------------------------


class ReviewNoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), max_length=NOTE_MAX, strip=True,
                           help_text="Why: kept with each report. Required.")


@admin.register(PartnerReport)
class PartnerReportAdmin(admin.ModelAdmin):
    list_display = ["partner", "reporter", "status", "created_at", "reason_short", "reviewed_by", "reviewed_at"]
    list_filter = ["status", "partner"]
    search_fields = ["reason", "partner__name", "reporter__email"]
    list_select_related = ["partner", "reporter", "reviewed_by"]
    fields = ["partner", "reporter", "reason", "status", "created_at", "reviewed_by", "reviewed_at", "review_note"]
    readonly_fields = fields
    actions = ["uphold_reports", "dismiss_reports"]

    def get_ordering(self, request):
        # The reports waiting for a decision on top, newest first within each group.
        open_first = Case(When(status=PartnerReport.Status.OPEN, then=Value(0)), default=Value(1),
                          output_field=IntegerField())
        return [open_first.asc(), "-created_at"]

    def has_add_permission(self, request):
        return False  # users report through the API or the partner's page

    def has_change_permission(self, request, obj=None):
        return False  # decided with the actions, with a note; never edited

    def has_delete_permission(self, request, obj=None):
        return False

    def has_review_permission(self, request):
        return request.user.has_perm("partners.change_partnerreport")

    @admin.display(description="reason")
    def reason_short(self, report):
        return report.reason if len(report.reason) <= 80 else report.reason[:79] + "…"

    @admin.action(description="Uphold the selected open reports (with a note)", permissions=["review"])
    def uphold_reports(self, request, queryset):
        return self._review(request, queryset, PartnerReport.Status.UPHELD, "uphold_reports")

    @admin.action(description="Dismiss the selected open reports (with a note)", permissions=["review"])
    def dismiss_reports(self, request, queryset):
        return self._review(request, queryset, PartnerReport.Status.DISMISSED, "dismiss_reports")

    def _review(self, request, queryset, decision, action):
        """An intermediate page asks for the note; its POST comes back here with "apply"."""
        form = ReviewNoteForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            done = skipped = 0
            for report in queryset:
                try:
                    partner_report_review(report=report, actor=request.user, decision=decision,
                                          note=form.cleaned_data["note"])
                    done += 1
                except AppError:
                    skipped += 1
            word = "Upheld" if decision == PartnerReport.Status.UPHELD else "Dismissed"
            self.message_user(request, f"{word} {done} report(s)." + (
                f" {skipped} were reviewed already." if skipped else ""), messages.SUCCESS if done else messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"{'Uphold' if decision == PartnerReport.Status.UPHELD else 'Dismiss'} reports",
            "opts": self.model._meta,
            "reports": queryset.select_related("partner", "reporter"),
            "form": form,
            "action": action,
            "decision": decision,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/partners/partnerreport/review.html", context)


@admin.register(PartnerRating)
class PartnerRatingAdmin(ReadOnlyAdmin):
    list_display = ["partner", "user", "stars", "created_at", "updated_at"]
    list_filter = ["stars"]
    search_fields = ["partner__name", "user__email"]
    list_select_related = ["partner", "user"]
    ordering = ["-updated_at"]
