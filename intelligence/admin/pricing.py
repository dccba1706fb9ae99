"""Adaptive pricing and discounts in the admin (staff only; every action a POST with CSRF, as admin
actions are): the price suggestions with their inputs, the pro tier's current price and a chart of
suggested vs actual price; "Compute now"; apply / dismiss. The discounts with their codes, reason,
percent, validity, state and redemptions (completed checkouts with the code); activate /
deactivate. Each operator decision goes through the services and is recorded on the row (who,
when) and in the admin's log."""

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone

from intelligence.charts import Series, line_chart
from intelligence.known_flags import PRICING_AUTO_APPLY
from intelligence.models import DiscountSuggestion, PriceSuggestion
from intelligence.services.discounts import discount_activate, discount_deactivate
from intelligence.services.flags import flag_active
from intelligence.services.pricing import TIER, price_suggestion_apply, price_suggestion_compute, price_suggestion_dismiss
from levqor.errors import AppError
from marketplace.models import CheckoutSession, TierPrice
from marketplace.services.prices import tier_price_current_minor
from marketplace.stripe_api import stripe_configured

CHART_WEEKS = 26


def _money(minor, currency: str) -> str:
    return "-" if minor is None else f"{minor / 100:.2f} {currency.upper()}"


def _as_of(rows: list[tuple], buckets: list, step: timedelta) -> list[float | None]:
    """For each week, the last (moment, minor) at or before its end, in major units: a price holds
    until the next one."""
    values, index, last = [], 0, None
    for bucket in buckets:
        while index < len(rows) and rows[index][0] < bucket + step:
            last = rows[index][1] / 100
            index += 1
        values.append(last)
    return values


def price_chart(*, now=None):
    """Suggested vs actual pro price (major units) per week over the last CHART_WEEKS weeks: the
    latest suggestion at each week's end, and the price new subscriptions got then (TierPrice
    rows), each held until the next. Two queries each: the rows in the window and the one before."""
    now = now or timezone.now()
    step = timedelta(days=7)
    start = (now - step * CHART_WEEKS).replace(hour=0, minute=0, second=0, microsecond=0)
    buckets = [start + step * i for i in range(CHART_WEEKS + 1)]

    def history(rows, moment: str, amount: str) -> list[tuple]:
        before = rows.filter(**{f"{moment}__lt": start}).order_by(f"-{moment}").values_list(moment, amount)[:1]
        inside = rows.filter(**{f"{moment}__gte": start}).order_by(moment).values_list(moment, amount)
        return [*before, *inside]

    suggested = history(PriceSuggestion.objects.filter(tier=TIER), "created_at", "suggested_minor")
    actual = history(TierPrice.objects.filter(tier=TIER, livemode=True), "created_at", "amount_minor")
    return line_chart(key="price", title="Pro price: suggested vs actual", unit="USD", buckets=buckets, step=step,
                      series=[Series("latest suggestion", "s-p95", _as_of(suggested, buckets, step)),
                              Series("new subscriptions paid", "s-rate", _as_of(actual, buckets, step))],
                      tick_every=timedelta(days=28), tick_format="%d %b")


@admin.register(PriceSuggestion)
class PriceSuggestionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "current", "suggested", "status", "trigger", "runs", "p95", "costs", "who", "note"]
    list_filter = ["status", "trigger", "created_at"]
    list_select_related = ["created_by", "decided_by"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in PriceSuggestion._meta.fields]
    actions = ["apply_suggestion", "dismiss_suggestions"]
    change_list_template = "admin/intelligence/pricesuggestion/change_list.html"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # what was suggested and decided is the record

    @admin.display(description="current price")
    def current(self, obj):
        return _money(obj.current_minor, obj.currency)

    @admin.display(description="suggested price")
    def suggested(self, obj):
        return _money(obj.suggested_minor, obj.currency)

    @admin.display(description="runs (30 d)")
    def runs(self, obj):
        return obj.inputs.get("runs")

    @admin.display(description="p95 (ms)")
    def p95(self, obj):
        value = obj.inputs.get("p95_ms")
        return "no traffic" if value is None else value

    @admin.display(description="ops + infra + refunds")
    def costs(self, obj):
        i = obj.inputs
        return f"{i.get('ops')} + {i.get('infra')} + {i.get('refunds')} {i.get('currency', '')}"

    @admin.display(description="decided by")
    def who(self, obj):
        if obj.decided_by_id:
            return obj.decided_by.email
        return "PRICING_AUTO_APPLY" if obj.status == PriceSuggestion.Status.APPLIED else "-"

    @admin.action(description="Apply the selected suggestion (the pro price for new subscriptions)",
                  permissions=["change"])
    def apply_suggestion(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one suggestion to apply.", messages.WARNING)
            return
        suggestion = queryset.get()
        try:
            suggestion = price_suggestion_apply(suggestion=suggestion, actor=request.user)
        except AppError as exc:
            self.message_user(request, f"Not applied: {exc.message}", messages.ERROR)
            return
        self.log_change(request, suggestion, f"Applied: {suggestion.stripe_price_id}")
        self.message_user(request, suggestion.note, messages.SUCCESS)

    @admin.action(description="Dismiss the selected suggestions", permissions=["change"])
    def dismiss_suggestions(self, request, queryset):
        done, refused = 0, []
        for suggestion in queryset:
            try:
                price_suggestion_dismiss(suggestion=suggestion, actor=request.user)
            except AppError as exc:
                refused.append(exc.message)
                continue
            self.log_change(request, suggestion, "Dismissed")
            done += 1
        self.message_user(request, " ".join([f"Dismissed {done}.", *refused]),
                          messages.SUCCESS if done else messages.WARNING)

    def get_urls(self):
        compute = self.admin_site.admin_view(self.compute_view)
        return [path("compute/", compute, name="intelligence_pricesuggestion_compute"), *super().get_urls()]

    def compute_view(self, request):
        """Compute now (the button on the list): a suggestion only; an operator applies it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        suggestion = price_suggestion_compute(trigger=PriceSuggestion.Trigger.ADMIN, actor=request.user)
        self.log_addition(request, suggestion, "Computed now")
        p95 = suggestion.inputs.get("p95_ms")
        self.message_user(request, (
            f"Suggested {_money(suggestion.suggested_minor, suggestion.currency)} (now "
            f"{_money(suggestion.current_minor, suggestion.currency)}) from {suggestion.inputs['runs']} runs, p95 "
            f"{'none (no traffic)' if p95 is None else f'{p95} ms'}, costs {suggestion.inputs['ops']} + "
            f"{suggestion.inputs['infra']} + {suggestion.inputs['refunds']}."))
        return HttpResponseRedirect(reverse("admin:intelligence_pricesuggestion_changelist"))

    def changelist_view(self, request, extra_context=None):
        current_minor, currency, current_from = tier_price_current_minor(tier=TIER, livemode=True)
        extra = {"pricing_current": _money(current_minor, currency), "pricing_current_from": current_from,
                 "pricing_auto_apply": flag_active(PRICING_AUTO_APPLY), "pricing_stripe": stripe_configured(livemode=True),
                 "pricing_chart": price_chart(), "pricing_tier": TIER}
        return super().changelist_view(request, {**(extra_context or {}), **extra})


@admin.register(DiscountSuggestion)
class DiscountSuggestionAdmin(admin.ModelAdmin):
    list_display = ["day", "code", "reason", "percent", "valid", "state", "redemptions", "redeemed_by", "signups_paid"]
    list_filter = ["status", "reason", "day"]
    search_fields = ["promotion_code__code"]
    date_hierarchy = "day"
    readonly_fields = [field.name for field in DiscountSuggestion._meta.fields]
    actions = ["activate_discounts", "deactivate_discounts"]

    def get_queryset(self, request):
        completed = Q(promotion_code__checkout_sessions__status=CheckoutSession.Status.COMPLETE)
        sessions = (CheckoutSession.objects.filter(status=CheckoutSession.Status.COMPLETE).select_related("user")
                    .order_by("completed_at"))
        return (super().get_queryset(request).select_related("promotion_code", "decided_by")
                .annotate(redeemed=Count("promotion_code__checkout_sessions", filter=completed))
                .prefetch_related(Prefetch("promotion_code__checkout_sessions", queryset=sessions,
                                           to_attr="completed_sessions")))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="code", ordering="promotion_code__code")
    def code(self, obj):
        return obj.promotion_code.code

    @admin.display(description="% off", ordering="percent_off")
    def percent(self, obj):
        return f"{obj.percent_off} %"

    @admin.display(description="valid until", ordering="valid_until")
    def valid(self, obj):
        return f"{obj.valid_until:%d %b %Y %H:%M} UTC"

    @admin.display(description="state", ordering="status")
    def state(self, obj):
        """The decision, and whether checkout honours the code right now (active and not expired)."""
        honoured = obj.promotion_code.active and obj.valid_until > timezone.now()
        return f"{obj.get_status_display()}{'' if honoured else ', not honoured'}"

    @admin.display(description="redemptions", ordering="redeemed")
    def redemptions(self, obj):
        return getattr(obj, "redeemed", None)

    @admin.display(description="redeemed by")
    def redeemed_by(self, obj):
        sessions = getattr(obj.promotion_code, "completed_sessions", None) or []
        return ", ".join(sorted({session.user.email for session in sessions})) or "-"

    @admin.display(description="signups / paid (7 d)")
    def signups_paid(self, obj):
        return f"{obj.inputs.get('signups')} / {obj.inputs.get('paid')}"

    def _each(self, request, queryset, act, word: str):
        done, refused = [], []
        for suggestion in queryset.select_related("promotion_code"):
            try:
                act(suggestion=suggestion, actor=request.user)
            except AppError as exc:
                refused.append(f"{suggestion.promotion_code.code}: {exc.message}")
                continue
            self.log_change(request, suggestion, f"{word.capitalize()} {suggestion.promotion_code.code}")
            done.append(suggestion.promotion_code.code)
        text = " ".join([f"{word.capitalize()}: {', '.join(done)}." if done else f"Nothing {word}.", *refused])
        self.message_user(request, text, messages.SUCCESS if done and not refused else messages.WARNING)

    @admin.action(description="Activate the selected codes (honoured at checkout)", permissions=["change"])
    def activate_discounts(self, request, queryset):
        self._each(request, queryset, discount_activate, "activated")

    @admin.action(description="Deactivate the selected codes", permissions=["change"])
    def deactivate_discounts(self, request, queryset):
        self._each(request, queryset, discount_deactivate, "deactivated")
