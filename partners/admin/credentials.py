"""Partner credentials in the admin: listed (never a secret), revoked with a confirmation page,
and a read-only inline the partner's page can show (PartnerCredentialInline)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from partners.models import PartnerCredential
from partners.services.credentials import credential_revoke

# What the admin shows of a credential: everything but the secrets.
SHOWN_FIELDS = ["key_id", "partner", "name", "created_at", "created_by", "last_used_at", "rotated_at",
                "previous_secret_expires_at", "revoked_at"]


class PartnerCredentialInline(admin.TabularInline):
    """Read-only: the partner's credentials on the partner's change page (PartnerAdmin.inlines)."""

    model = PartnerCredential
    extra = 0
    can_delete = False
    fields = [f for f in SHOWN_FIELDS if f != "partner"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PartnerCredential)
class PartnerCredentialAdmin(admin.ModelAdmin):
    list_display = ["key_id", "partner", "name", "created_at", "last_used_at", "rotated_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "partner__status"]
    search_fields = ["key_id", "name", "partner__name", "partner__owner__email"]
    list_select_related = ["partner"]
    ordering = ["-created_at"]
    fields = SHOWN_FIELDS
    readonly_fields = SHOWN_FIELDS
    actions = ["revoke_credentials"]

    def has_add_permission(self, request):
        return False  # made by the partner (their page or the API), so the secret is shown to them alone

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, not deleted: the row says when it stopped

    @admin.action(description="Revoke the selected credentials now", permissions=["change"])
    def revoke_credentials(self, request, queryset):
        live = list(queryset.filter(revoked_at__isnull=True).select_related("partner"))
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/partners/partnercredential/revoke_confirmation.html", {
                **self.admin_site.each_context(request), "title": "Revoke partner credentials?",
                "opts": self.model._meta, "credentials": live, "queryset": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            })
        for credential in live:
            credential_revoke(credential=credential, actor=request.user)
        self.message_user(request, f"Revoked {len(live)} credential(s); they no longer verify.",
                          messages.SUCCESS if live else messages.WARNING)
        return None
