from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils import timezone

from accounts.models import DEFAULT_SCOPES, OPERATOR_SCOPE, SCOPES, ApiKey, ApiKeyEvent, ApiUsage, User
from accounts.selectors import api_usage_for
from accounts.services.key_auth import api_key_cache_forget
from accounts.services.keys import api_key_create, api_key_revoke, api_key_scopes_allowed_check
from levqor.admin import ReadOnlyAdmin
from levqor.client_ip import client_ip
from levqor.errors import AppError


class ApiKeyForm(forms.ModelForm):
    # Ticked boxes instead of raw JSON, so only known scopes can be stored.
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple,
                                       initial=list(DEFAULT_SCOPES))

    class Meta:
        model = ApiKey
        fields = ["owner", "name", "livemode", "scopes", "expires_at"]

    def clean(self):
        cleaned = super().clean()
        owner = cleaned.get("owner") or getattr(self.instance, "owner", None)
        if owner is not None and OPERATOR_SCOPE in (cleaned.get("scopes") or []):
            try:
                api_key_scopes_allowed_check(owner=owner, scopes=cleaned["scopes"])
            except AppError as exc:
                self.add_error("scopes", exc.message)
        return cleaned


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    fields = ["prefix", "name", "livemode", "scopes", "created_at", "last_used_at", "last_used_ip", "revoked_at",
              "expires_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


# Read-only sections that other apps add to the user's page (accounts knows no app above it):
# (title, display functions). Joined from the app's admin.py, as admin.site.register is.
_user_sections: list[tuple[str, tuple[Callable, ...]]] = []


def user_admin_section_register(title: str, *fields: Callable) -> None:
    """Show a read-only section `title` on the user's change page. Each field is a function(user)
    -> text or safe HTML, labelled by @admin.display(description=...). Read-only on purpose: a
    form field or an inline would add a formset that every save of the user's page must post."""
    if not fields:
        raise ValueError("A section needs at least one field.")
    if any(title == taken for taken, _ in _user_sections):
        raise ValueError(f"The user page already has a section {title!r}.")
    _user_sections.append((title, tuple(fields)))


def user_admin_section_unregister(title: str) -> None:
    _user_sections[:] = [(taken, fields) for taken, fields in _user_sections if taken != title]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "name", "tier", "currency", "is_active", "is_staff", "created_at"]
    list_filter = ["tier", "is_active", "is_staff", "currency"]
    search_fields = ["email", "name"]
    readonly_fields = ["id", "created_at", "updated_at", "last_login", "usage_this_month"]
    inlines = [ApiKeyInline]
    fieldsets = [
        (None, {"fields": ["id", "email", "password"]}),
        ("Profile", {"fields": ["name", "locale", "currency", "meta"]}),
        ("API plan", {"fields": ["tier", "usage_this_month"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "created_at", "updated_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]})]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:  # the add form has no sections of other apps: there is no user yet
            return fieldsets
        return [*fieldsets, *((title, {"fields": list(fields)}) for title, fields in _user_sections)]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        return [*readonly, *(field for _, fields in _user_sections for field in fields)]

    @admin.display(description="API calls this month")
    def usage_this_month(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        usage = api_usage_for(obj)
        limit = "unlimited" if usage.calls_limit is None else f"{usage.calls_limit:,}"
        return f"{usage.calls_used:,} / {limit} (resets {usage.reset_at:%Y-%m-%d %H:%M} UTC)"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:  # e.g. deactivated or another tier: their keys must stop working now, not when the cache expires
            api_key_cache_forget(*obj.api_keys.values_list("key_hash", flat=True))


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["prefix", "name", "owner", "livemode", "scopes", "created_at", "last_used_at", "last_used_ip",
                    "revoked_at", "expires_at", "rotated_from"]
    list_filter = ["livemode", ("revoked_at", admin.EmptyFieldListFilter), ("rotated_from", admin.EmptyFieldListFilter)]
    search_fields = ["prefix", "name", "owner__email"]
    list_select_related = ["owner", "rotated_from"]
    raw_id_fields = ["owner"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["owner", "name", "livemode", "scopes", "expires_at"]
        return ["id", "prefix", "owner", "name", "livemode", "scopes", "created_at", "last_used_at", "last_used_ip",
                "rotated_from", "revoked_at", "expires_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["id", "prefix", "owner", "livemode", "created_at", "last_used_at", "last_used_ip", "rotated_from",
                "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            api_key_cache_forget(obj.key_hash)  # a new expiry applies at once, not when the cache expires
            return
        # New keys go through the service so only the hash is stored; the raw key is shown once.
        created = api_key_create(owner=obj.owner, name=obj.name, livemode=obj.livemode, expires_at=obj.expires_at,
                                 scopes=obj.scopes, actor=request.user, ip=client_ip(request), details={"via": "admin"})
        obj.pk = created.api_key.pk
        obj._state.adding = False
        messages.warning(request, f"The new key is {created.raw_key} — copy it now, it will not be shown again.")

    @admin.action(description="Revoke the selected keys now")
    def revoke_keys(self, request, queryset):
        count = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request), details={"via": "admin"})
            count += 1
        self.message_user(request, f"Revoked {count} key(s) at {timezone.now():%H:%M:%S} UTC.")


@admin.register(ApiKeyEvent)
class ApiKeyEventAdmin(ReadOnlyAdmin):
    """The audit trail: read-only, so it stays a record of what happened."""

    list_display = ["at", "action", "key_prefix", "api_key", "actor", "ip"]
    list_filter = ["action", "at", ("actor", admin.EmptyFieldListFilter)]
    search_fields = ["key_prefix", "actor__email", "ip", "api_key__owner__email"]
    list_select_related = ["api_key", "actor"]
    date_hierarchy = "at"
    fields = ["at", "action", "key_prefix", "api_key", "actor", "ip", "details"]
    readonly_fields = fields


@admin.register(ApiUsage)
class ApiUsageAdmin(ReadOnlyAdmin):
    """The persisted monthly counts (the live count of the current month is in the cache, up to a
    minute ahead: the user's page shows that one)."""

    list_display = ["owner", "month", "calls"]
    list_filter = ["month"]
    search_fields = ["owner__email"]
    list_select_related = ["owner"]
    readonly_fields = ["owner", "month", "calls"]
