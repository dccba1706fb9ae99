"""Listings in the admin: the review queue (status filter; pending review first), and the review
actions approve / reject / delist, each through a page that asks for the reason (required to reject
and delist) and calls the listing services. The review trail is a read-only inline; the signing
secret is never shown (its fields are not editable, so never on the form)."""

import json
from datetime import datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from levqor.admin import ReadOnlyInline
from levqor.errors import AppError, ErrorCode
from marketplace.models import Listing, ListingReviewEvent
from marketplace.services.listings import listing_delist, listing_review

S = Listing.Status
# action: (label, the statuses it applies to, reason required, past tense)
ACTIONS = {
    "approve": ("Approve", {S.PENDING_REVIEW}, False, "Approved"),
    "reject": ("Reject", {S.PENDING_REVIEW}, True, "Rejected"),
    "delist": ("Delist", {S.PUBLISHED, S.PENDING_REVIEW}, True, "Delisted"),
}


class ListingReviewEventInline(ReadOnlyInline):
    model = ListingReviewEvent
    fields = ["at", "from_status", "to_status", "actor", "reason"]
    readonly_fields = fields
    ordering = ["-at", "-id"]
    verbose_name_plural = "review trail"


class ListingReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, strip=True, required=False,
                             widget=forms.Textarea(attrs={"rows": 3, "cols": 80}))

    def __init__(self, *args, required: bool, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = required
        self.fields["reason"].help_text = ("Why: kept in the review trail and sent to the partner. "
                                           + ("Required." if required else "Optional."))


@admin.register(Listing)
class ListingAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "partner", "category", "price", "status", "downloads", "rating_avg", "created_at"]
    list_filter = ["status", "category"]
    search_fields = ["name", "slug", "description", "partner__name", "partner__owner__email"]
    list_select_related = ["partner"]
    inlines = [ListingReviewEventInline]
    actions = ["approve", "reject", "delist"]
    fields = ["name", "slug", "partner", "category", "amount_minor", "currency", "description", "metadata",
              "input_schema", "endpoint", "status", "status_reason", "status_changed_at", "published_at", "downloads",
              "rating_avg", "rating_count", "rotated_at", "created_at", "updated_at", "review_buttons"]
    # A listing is changed by its partner and reviewed with the actions; nothing typed in here.
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # partners create listings

    def has_delete_permission(self, request, obj=None):
        return False  # delisting keeps the row (orders and installs point at it)

    def get_ordering(self, request):
        return ["-status_changed_at", "-id"] if request.GET.get("status__exact") else ["-created_at", "-id"]

    @admin.display(description="Price", ordering="amount_minor")
    def price(self, listing):
        return listing.price_display if listing.is_free else f"{listing.price_display} {listing.currency.upper()}"

    @admin.display(description="Review")
    def review_buttons(self, listing):
        if listing.pk is None:
            return "-"
        links = [format_html('<a class="button" id="listing-{}" href="{}?ids={}">{}</a>', action,
                             reverse("admin:marketplace_listing_review", args=[action]), listing.pk, label)
                 for action, (label, allowed, _, _) in ACTIONS.items() if listing.status in allowed]
        return format_html_join(" ", "{}", ((link,) for link in links)) if links else "No review action applies."

    def _to_reason_page(self, queryset, action):
        ids = ",".join(str(pk) for pk in queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(f"{reverse('admin:marketplace_listing_review', args=[action])}?ids={ids}")

    @admin.action(description="Approve the selected listings (publish them)", permissions=["change"])
    def approve(self, request, queryset):
        return self._to_reason_page(queryset, "approve")

    @admin.action(description="Reject the selected listings (asks for a reason)", permissions=["change"])
    def reject(self, request, queryset):
        return self._to_reason_page(queryset, "reject")

    @admin.action(description="Delist the selected listings (asks for a reason)", permissions=["change"])
    def delist(self, request, queryset):
        return self._to_reason_page(queryset, "delist")

    def get_urls(self):
        return [path("review/<str:action>/", self.admin_site.admin_view(self.review_view),
                     name="marketplace_listing_review"), *super().get_urls()]

    def review_view(self, request, action):
        if action not in ACTIONS or not self.has_change_permission(request):
            raise PermissionDenied
        label, _, required, _ = ACTIONS[action]
        ids = [part for part in (request.GET.get("ids") or request.POST.get("ids") or "").split(",") if part]
        try:
            listings = list(Listing.objects.filter(pk__in=ids).select_related("partner").order_by("created_at"))
        except ValidationError:  # ids that are no UUIDs: nothing to review
            listings = []
        changelist = reverse("admin:marketplace_listing_changelist")
        if not listings:
            messages.warning(request, "No listing was selected.")
            return HttpResponseRedirect(changelist)
        form = ListingReasonForm(request.POST or None, required=required)
        if request.method == "POST" and form.is_valid():
            self._apply(request, listings, action, form.cleaned_data["reason"])
            return HttpResponseRedirect(changelist)
        for listing in listings:  # what staff approve: the schema a run's payload must fit, escaped in the page
            listing.input_schema_pretty = json.dumps(listing.input_schema, indent=2, sort_keys=True, ensure_ascii=False)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label} {len(listings)} listing{'s' if len(listings) != 1 else ''}",
            "opts": self.model._meta, "action": action, "action_label": label, "listings": listings,
            "ids": ",".join(str(item.pk) for item in listings), "form": form, "changelist_url": changelist,
        }
        return TemplateResponse(request, "admin/marketplace/listing/review.html", context,
                                status=400 if request.method == "POST" else 200)

    @staticmethod
    def _seen(request, listing) -> datetime | None:
        """The listing's updated_at when the page was shown (its hidden field), if the form sent one."""
        try:
            return datetime.fromisoformat(request.POST.get(f"seen_{listing.pk}", ""))
        except ValueError:
            return None

    def _apply(self, request, listings, action, reason):
        done = 0
        for listing in listings:
            seen = self._seen(request, listing)
            try:
                if action == "delist":
                    listing_delist(listing=listing, actor=request.user, reason=reason, expected_updated_at=seen)
                else:
                    listing_review(listing=listing, actor=request.user, action=action, reason=reason or None,
                                   expected_updated_at=seen)
            except AppError as exc:
                if exc.code == ErrorCode.LISTING_TRANSITION_NOT_ALLOWED and exc.details.get("changed_since"):
                    messages.error(request, f"{listing.name}: changed since you opened it; look again.")
                else:
                    messages.error(request, f"{listing.name}: {exc.message}")
            else:
                done += 1
        if done:
            messages.success(request, f"{ACTIONS[action][3]} {done} listing{'s' if done != 1 else ''}.")
