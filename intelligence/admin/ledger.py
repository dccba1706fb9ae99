"""The profit ledger in the admin: its entries (read-only: every one comes from a source) and the
monthly infrastructure costs, typed as a decimal amount in major units (stored in minor units).
Saving or deleting a month goes through intelligence.services.ledger_costs, which replaces the
month's ledger entries in the same transaction."""

import re
from datetime import date

from django import forms
from django.conf import settings
from django.contrib import admin

from intelligence.models import InfraCost, LedgerEntry
from intelligence.services.ledger_costs import infra_cost_delete, infra_cost_save
from levqor.admin import ReadOnlyAdmin
from levqor.money import currency_exponent, major_to_minor, minor_display, minor_to_major


class InfraCostForm(forms.ModelForm):
    month = forms.CharField(max_length=7, widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
                            help_text="The month the bill is for, as YYYY-MM (e.g. 2026-11).")
    currency = forms.CharField(max_length=3, help_text="3-letter ISO code, e.g. USD.")
    amount = forms.DecimalField(min_value=0, max_digits=15, decimal_places=3,
                                help_text="The month's total in major units, e.g. 120.50 (USD: dollars and cents).")

    class Meta:
        model = InfraCost
        fields = ["month", "currency", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.update(month=f"{self.instance.month:%Y-%m}",
                                amount=minor_to_major(self.instance.amount_minor, self.instance.currency))
        else:
            self.initial.setdefault("currency", settings.BILLING_CURRENCY.upper())

    def clean_month(self):
        value = self.cleaned_data["month"].strip()
        found = re.fullmatch(r"(\d{4})-(\d{2})", value)
        if not found or not 1 <= int(found[2]) <= 12:
            raise forms.ValidationError("Enter the month as YYYY-MM, e.g. 2026-11.")
        return date(int(found[1]), int(found[2]), 1)

    def clean_currency(self):
        value = self.cleaned_data["currency"].strip().upper()
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise forms.ValidationError("Enter a 3-letter currency code, e.g. USD.")
        return value

    def clean(self):
        cleaned = super().clean()
        amount, currency = cleaned.get("amount"), cleaned.get("currency")
        if amount is not None and currency:
            try:
                self.instance.amount_minor = major_to_minor(amount, currency)
            except ValueError:
                places = currency_exponent(currency)
                self.add_error("amount", f"{currency} amounts have {places} decimal place{'s' if places != 1 else ''} "
                                         f"at most; {amount} has more.")
        return cleaned


@admin.register(InfraCost)
class InfraCostAdmin(admin.ModelAdmin):
    form = InfraCostForm
    list_display = ("month_label", "amount_label", "currency", "note", "entered_by", "revision", "updated_at")
    list_filter = ("currency",)
    list_select_related = ("entered_by",)
    readonly_fields = ("entered_by", "revision", "created_at", "updated_at")
    fields = ("month", "currency", "amount", "note", "entered_by", "revision", "created_at", "updated_at")

    @admin.display(description="month", ordering="month")
    def month_label(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description="amount", ordering="amount_minor")
    def amount_label(self, obj):
        return minor_display(obj.amount_minor, obj.currency)

    def save_model(self, request, obj, form, change):
        infra_cost_save(infra_cost=obj, month=obj.month, currency=obj.currency, amount_minor=obj.amount_minor,
                        note=obj.note, entered_by=request.user)

    def delete_model(self, request, obj):
        infra_cost_delete(infra_cost=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            infra_cost_delete(infra_cost=obj)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("day", "kind", "amount_label", "currency", "source", "pending", "user")
    list_filter = ("kind", "currency", "pending")
    list_select_related = ("user",)
    search_fields = ("source", "memo")
    date_hierarchy = "day"
    ordering = ("-day", "-id")

    @admin.display(description="amount", ordering="amount_minor")
    def amount_label(self, obj):
        return minor_display(obj.amount_minor, obj.currency)
