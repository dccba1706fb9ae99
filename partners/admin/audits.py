"""Partner audits and periodic reviews in the admin: the audits (read-only, findings as a table),
"Run audit now" (a page per partner, POST with CSRF) and "Review completed" (a reason required).

The Partner admin (the registry's module) adds the two actions below to its own:
`actions = [..., partner_audit_action, partner_review_complete_action]`."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from levqor.admin import ReadOnlyAdmin
from levqor.errors import AppError
from partners.models import Partner, PartnerAudit
from partners.services.audits import partner_audit_run
from partners.services.reviews import partner_review_complete

# Who may run audits and complete reviews: whoever may change partners (superusers always).
PARTNER_CHANGE_PERMISSION = "partners.change_partner"
# An audit runs in the request (up to two calls per endpoint, the policy's timeout each): a few at once.
AUDITS_PER_ACTION = 10
SEVERITY_ICON = {"info": "icon-yes.svg", "warning": "icon-alert.svg", "critical": "icon-no.svg"}


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 80}), strip=True, max_length=500,
                             help_text="What the review found: kept in the partner's review trail. Required.")


def _may_act(request) -> bool:
    return request.user.has_perm(PARTNER_CHANGE_PERMISSION)


@admin.action(description="Run audit now", permissions=["change"])
def partner_audit_action(modeladmin, request, queryset):
    """Audit the selected partners now (manual trigger, by this staff user), at most AUDITS_PER_ACTION."""
    partners = list(queryset[:AUDITS_PER_ACTION + 1])
    if len(partners) > AUDITS_PER_ACTION:
        modeladmin.message_user(request, f"Select at most {AUDITS_PER_ACTION} partners: each audit calls their "
                                         f"webhook endpoints while you wait.", messages.ERROR)
        return None
    for partner in partners:
        audit = partner_audit_run(partner=partner, trigger=PartnerAudit.Trigger.MANUAL, actor=request.user)
        level = {"pass": messages.SUCCESS, "warn": messages.WARNING}.get(audit.outcome, messages.ERROR)
        modeladmin.message_user(request, format_html(
            'Audit of {}: <a href="{}">{}</a>.', partner.name,
            reverse("admin:partners_partneraudit_change", args=[audit.pk]), audit.get_outcome_display()), level)
    return None


@admin.action(description="Review completed (asks for a reason)", permissions=["change"])
def partner_review_complete_action(modeladmin, request, queryset):
    """Send the selected partners to the "Review completed" page, which asks for the reason."""
    ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
    return HttpResponseRedirect(f"{reverse('admin:partners_review_complete')}?ids={ids}")


@admin.register(PartnerAudit)
class PartnerAuditAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "partner", "outcome_shown", "trigger", "problems", "requested_by", "policy_version")
    list_filter = ("outcome", "trigger")
    search_fields = ("partner__name", "partner__email")
    list_select_related = ("partner", "requested_by")
    date_hierarchy = "started_at"
    fields = ("partner", "trigger", "requested_by", "started_at", "finished_at", "outcome", "policy_version",
              "findings_table")
    readonly_fields = fields

    @admin.display(description="outcome", ordering="outcome")
    def outcome_shown(self, audit):
        return audit.get_outcome_display()

    @admin.display(description="problems")
    def problems(self, audit):
        bad = [f for f in audit.findings if not f.get("ok")]
        return ", ".join(f"{f['check']} ({f['severity']})" for f in bad) or "none"

    @admin.display(description="findings")
    def findings_table(self, audit):
        rows = format_html_join("", '<tr><td><img src="{}" alt="{}"> {}</td><td>{}</td>'
                                    "<td>{}</td><td>{}</td></tr>",
                                ((_icon(f.get("severity")), f.get("severity"),
                                  f.get("severity"), f.get("check"), "ok" if f.get("ok") else "problem",
                                  f.get("detail")) for f in audit.findings))
        return format_html('<table class="audit-findings"><thead><tr><th>Severity</th><th>Check</th><th>Result</th>'
                           "<th>Detail</th></tr></thead><tbody>{}</tbody></table>", rows)

    def get_urls(self):
        return [
            path("run/<uuid:partner_id>/", self.admin_site.admin_view(self.run_view), name="partners_audit_run"),
            path("review-complete/", self.admin_site.admin_view(self.review_complete_view),
                 name="partners_review_complete"),
            *super().get_urls(),
        ]

    def _page(self, request, template, **context):
        return TemplateResponse(request, template, {**self.admin_site.each_context(request), "opts": self.model._meta,
                                                    **context})

    def run_view(self, request, partner_id):
        """GET: what an audit does, and a button; POST (CSRF): run it and show the audit."""
        if not _may_act(request):
            raise PermissionDenied
        partner = get_object_or_404(Partner, pk=partner_id)
        if request.method == "POST":
            audit = partner_audit_run(partner=partner, trigger=PartnerAudit.Trigger.MANUAL, actor=request.user)
            self.message_user(request, f"Audit of {partner.name}: {audit.get_outcome_display()}.",
                              messages.SUCCESS if audit.outcome == "pass" else messages.WARNING)
            return HttpResponseRedirect(reverse("admin:partners_partneraudit_change", args=[audit.pk]))
        return self._page(request, "admin/partners/partneraudit/run.html", title=f"Run an audit of {partner.name}",
                          partner=partner, recent=partner.audits.all()[:5])

    def review_complete_view(self, request):
        """The selected partners (?ids=) and a required reason; POST (CSRF) records each review."""
        if not _may_act(request):
            raise PermissionDenied
        partners = list(Partner.objects.filter(pk__in=_ids(request.GET.get("ids") or request.POST.get("ids")),
                                               deleted_at__isnull=True))
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and partners and form.is_valid():
            done, refused = [], []
            for partner in partners:
                try:
                    partner_review_complete(partner=partner, actor=request.user, reason=form.cleaned_data["reason"])
                except AppError as exc:
                    refused.append(f"{partner.name}: {exc.message}")
                else:
                    done.append(partner.name)
            if done:
                self.message_user(request, f"Review completed for {', '.join(done)}; the next is due in the policy's "
                                           f"interval.", messages.SUCCESS)
            for line in refused:
                self.message_user(request, line, messages.ERROR)
            return HttpResponseRedirect(_partner_list_url())
        return self._page(request, "admin/partners/partneraudit/review_complete.html", title="Review completed",
                          partners=partners, ids=",".join(str(p.pk) for p in partners), form=form)


def _icon(severity: str | None) -> str:
    return static("admin/img/" + SEVERITY_ICON.get(severity or "", "icon-unknown.svg"))


def _ids(text: str | None) -> list[uuid.UUID]:
    """The partner ids of ?ids=a,b (what is not an id is left out)."""
    found = []
    for part in (text or "").split(","):
        try:
            found.append(uuid.UUID(part.strip()))
        except ValueError:
            continue
    return found


def _partner_list_url() -> str:
    if admin.site.is_registered(Partner):
        return reverse("admin:partners_partner_changelist")
    return reverse("admin:partners_partneraudit_changelist")
