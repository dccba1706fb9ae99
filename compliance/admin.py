from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.admin import user_admin_section_register
from compliance import selectors
from compliance.models import (
    AccountErasure,
    ConsentRecord,
    MarketingConsent,
    MarketingConsentEvent,
    TermsAcceptance,
    TermsVersion,
)
from levqor.admin import ReadOnlyAdmin


@admin.register(TermsVersion)
class TermsVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "published_at", "acceptances_count", "created_at"]
    search_fields = ["version"]
    fields = ["version", "published_at", "text", "created_at"]
    readonly_fields = ["created_at"]

    @admin.display(description="acceptances")
    def acceptances_count(self, obj):
        return obj.acceptances.count()

    def get_readonly_fields(self, request, obj=None):
        # Once people accepted a version, its words are what they agreed to: publish a new one instead.
        if obj is not None and obj.acceptances.exists():
            return ["version", "published_at", "text", "created_at"]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.acceptances.exists()


@admin.register(TermsAcceptance)
class TermsAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["user", "version", "accepted_at", "ip"]
    list_filter = ["version", "accepted_at"]
    search_fields = ["user__email", "ip"]
    list_select_related = ["user", "version"]
    date_hierarchy = "accepted_at"


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "anonymous_id", "user", "policy_version", "choices", "ip_truncated"]
    list_filter = ["policy_version", "at"]
    search_fields = ["anonymous_id", "user__email"]
    list_select_related = ["user"]
    date_hierarchy = "at"


@admin.register(MarketingConsentEvent)
class MarketingConsentEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "action", "source", "ip"]
    list_filter = ["action", "source", "at"]
    search_fields = ["user__email", "ip"]
    list_select_related = ["user"]
    date_hierarchy = "at"


@admin.register(MarketingConsent)
class MarketingConsentAdmin(ReadOnlyAdmin):
    list_display = ["user", "status", "consent_at", "double_opt_in_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["user__email"]
    list_select_related = ["user"]


@admin.register(AccountErasure)
class AccountErasureAdmin(ReadOnlyAdmin):
    list_display = ["user", "by_self", "at"]
    list_filter = ["by_self", "at"]


# The user's page shows their consent state, in a section accounts' UserAdmin offers.

@admin.display(description="Consent state")
def consent_state(user):
    fields = selectors.user_compliance_fields(user)
    current = selectors.terms_current()
    terms = (f"terms {fields['terms_version']} accepted {fields['terms_accepted_at']:%Y-%m-%d %H:%M}"
             if fields["terms_version"] else "terms never accepted")
    if current and fields["terms_version"] != current.version:
        terms += f" (current: {current.version})"
    if fields["marketing_double_opt_in"]:
        marketing = f"marketing on (confirmed {fields['marketing_double_opt_in_at']:%Y-%m-%d})"
    elif fields["marketing_consent"]:
        marketing = "marketing requested, not confirmed"
    else:
        marketing = "marketing off"
    return f"{terms}; {marketing}"


@admin.display(description="Terms acceptances (latest 20)")
def terms_history(user):
    rows = TermsAcceptance.objects.filter(user=user).select_related("version").order_by("-accepted_at")[:20]
    return format_html_join(mark_safe("<br>"), "{} at {} from {}",
                            ((a.version.version, f"{a.accepted_at:%Y-%m-%d %H:%M}", a.ip or "-") for a in rows)) or "none"


@admin.display(description="Marketing consent trail (latest 20)")
def marketing_history(user):
    rows = MarketingConsentEvent.objects.filter(user=user).order_by("-at", "-id")[:20]
    return format_html_join(mark_safe("<br>"), "{} via {} at {} from {}",
                            ((e.action, e.source, f"{e.at:%Y-%m-%d %H:%M}", e.ip or "-") for e in rows)) or "none"


user_admin_section_register("Consents", consent_state, terms_history, marketing_history)
