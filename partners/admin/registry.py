"""Partners in the admin: the review queue (pending applications, oldest first; approved partners
whose periodic review is due), and the review actions approve / reject / suspend / reinstate, each
through a page that asks for the required reason and calls partner_status_change. The review trail
is a read-only inline: append-only, nothing is added, changed or deleted here."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from levqor.admin import ReadOnlyInline
from levqor.errors import AppError
from partners.admin.audits import partner_audit_action, partner_review_complete_action
from partners.admin.credentials import PartnerCredentialInline
from partners.models import Partner, PartnerReviewEvent
from partners.services.status import TRANSITIONS, partner_status_change

ACTION_LABELS = {"approve": "Approve", "reject": "Reject", "suspend": "Suspend", "reinstate": "Reinstate"}
QUEUE_PARAM = "queue"
PENDING, DUE, ALL = "pending", "due", "all"


def _queue(request) -> str | None:
    """The queue shown: the one asked for, or the pending applications on a bare first visit (the
    review queue is the changelist's default view); a search or another filter lists every partner."""
    return request.GET.get(QUEUE_PARAM) or (PENDING if not request.GET else None)


class ReviewQueueFilter(admin.SimpleListFilter):
    """Pending review: applications waiting, oldest first. Review due: approved partners whose
    periodic review fell due (the review cycle sets review_due_since), longest due first."""

    title = "review queue"
    parameter_name = QUEUE_PARAM

    def __init__(self, request, params, model, model_admin):
        self.default = _queue(request)
        super().__init__(request, params, model, model_admin)

    def value(self):
        return super().value() or self.default

    def lookups(self, request, model_admin):
        return [(PENDING, "Pending review"), (DUE, "Review due"), (ALL, "All partners")]

    def choices(self, changelist):
        # Django's own "All" would lead back to the default (pending): "All partners" replaces it.
        yield from list(super().choices(changelist))[1:]

    def queryset(self, request, queryset):
        if self.value() == PENDING:
            return queryset.filter(status=Partner.Status.PENDING, deleted_at__isnull=True)
        if self.value() == DUE:
            return queryset.filter(status=Partner.Status.APPROVED, review_due_since__isnull=False,
                                   deleted_at__isnull=True)
        return queryset


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Live"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        return queryset


class ReviewEventInline(ReadOnlyInline):
    model = PartnerReviewEvent
    fields = ["at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]
    verbose_name_plural = "review trail"


class ReviewReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, strip=True, widget=forms.Textarea(attrs={"rows": 3, "cols": 80}),
                             help_text="Why: kept in the review trail and sent to the partner by email (and by webhook "
                                       "on approval or suspension). Required.")


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "status", "created_at", "next_review_at", "review_due_since", "deleted_at"]
    list_filter = [ReviewQueueFilter, "status", DeletedFilter]
    search_fields = ["name", "email", "owner__email"]
    list_select_related = ["owner"]
    inlines = [ReviewEventInline, PartnerCredentialInline]
    actions = ["approve", "reject", "suspend", "reinstate", partner_audit_action, partner_review_complete_action]
    fields = ["name", "owner", "email", "webhook_url", "revenue_share", "metadata", "status", "status_reason",
              "status_changed_at", "verified_at", "next_review_at", "review_due_since", "rating_avg", "rating_count",
              "created_at", "updated_at", "deleted_at", "review_buttons"]
    # A partner is changed by its owner (page, API) and reviewed with the actions; nothing typed in here.
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # partners apply themselves

    def has_delete_permission(self, request, obj=None):
        return False  # deletion is soft (the API); the trail stays

    def get_ordering(self, request):
        queue = _queue(request)
        if queue == PENDING:
            return ["created_at", "id"]
        if queue == DUE:
            return ["review_due_since", "id"]
        return ["-created_at", "id"]

    @admin.display(description="Review")
    def review_buttons(self, partner):
        if partner.pk is None or partner.deleted_at is not None:
            return "-"
        links = [format_html('<a class="button" id="review-{}" href="{}?ids={}">{}</a>', action,
                             reverse("admin:partners_partner_review", args=[action]), partner.pk, label)
                 for action, label in ACTION_LABELS.items() if partner.status in TRANSITIONS[action][0]]
        if partner.status == Partner.Status.APPROVED:
            links.append(format_html('<a class="button" id="audit-run" href="{}">Run audit now</a>',
                                     reverse("admin:partners_audit_run", args=[partner.pk])))
        return format_html_join(" ", "{}", ((link,) for link in links)) if links else "No review action applies."

    # --- the four actions: each asks for the reason on its own page ------------------------------

    def _to_reason_page(self, request, queryset, action):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:partners_partner_review', args=[action])}?ids={ids}")

    @admin.action(description="Approve the selected partners (asks for a reason)", permissions=["change"])
    def approve(self, request, queryset):
        return self._to_reason_page(request, queryset, "approve")

    @admin.action(description="Reject the selected partners (asks for a reason)", permissions=["change"])
    def reject(self, request, queryset):
        return self._to_reason_page(request, queryset, "reject")

    @admin.action(description="Suspend the selected partners (asks for a reason)", permissions=["change"])
    def suspend(self, request, queryset):
        return self._to_reason_page(request, queryset, "suspend")

    @admin.action(description="Reinstate the selected partners (asks for a reason)", permissions=["change"])
    def reinstate(self, request, queryset):
        return self._to_reason_page(request, queryset, "reinstate")

    def get_urls(self):
        return [path("review/<str:action>/", self.admin_site.admin_view(self.review_view),
                     name="partners_partner_review"), *super().get_urls()]

    def review_view(self, request, action):
        if action not in TRANSITIONS:
            raise PermissionDenied
        if not self.has_change_permission(request):
            raise PermissionDenied
        ids = [part for part in (request.GET.get("ids") or request.POST.get("ids") or "").split(",") if part]
        try:
            partners = list(Partner.objects.filter(pk__in=ids, deleted_at__isnull=True).select_related("owner")
                            .order_by("created_at"))
        except ValidationError:  # ids that are no UUIDs: nothing to review
            partners = []
        changelist = reverse("admin:partners_partner_changelist")
        if not partners:
            messages.warning(request, "No partner was selected.")
            return HttpResponseRedirect(changelist)
        form = ReviewReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            self._apply(request, partners, action, form.cleaned_data["reason"])
            return HttpResponseRedirect(changelist + (f"?{QUEUE_PARAM}={PENDING}" if action in ("approve", "reject")
                                                      else ""))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{ACTION_LABELS[action]} {len(partners)} partner{'s' if len(partners) != 1 else ''}",
            "opts": self.model._meta,
            "action": action,
            "action_label": ACTION_LABELS[action],
            "partners": partners,
            "ids": ",".join(str(p.pk) for p in partners),
            "form": form,
            "changelist_url": changelist,
        }
        return TemplateResponse(request, "admin/partners/partner/review.html", context,
                                status=400 if request.method == "POST" else 200)

    def _apply(self, request, partners, action, reason):
        done = 0
        for partner in partners:
            try:
                partner_status_change(partner=partner, action=action, actor=request.user, reason=reason)
            except AppError as exc:
                messages.error(request, f"{partner.name}: {exc.message}")
            else:
                done += 1
        if done:
            verb = {"approve": "Approved", "reject": "Rejected", "suspend": "Suspended", "reinstate": "Reinstated"}
            messages.success(request, f"{verb[action]} {done} partner{'s' if done != 1 else ''}.")
