"""Billing in Django admin: records of Stripe (read-only: Stripe is the truth, the webhook keeps
them), with one action: process a Stripe event again."""

from django.contrib import admin, messages
from django.db.models import Count, Q

from levqor.admin import ReadOnlyAdmin
from levqor.money import minor_display
from marketplace.models import CheckoutSession, PromotionCode, StripeCustomer, StripeEvent, Subscription, TierPrice
from marketplace.services.billing_events import stripe_event_retry


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "livemode", "status", "attempts", "note", "received_at", "processed_at"]
    list_filter = ["status", "type", "livemode"]
    search_fields = ["id", "type", "note", "last_error"]
    date_hierarchy = "received_at"
    ordering = ["-received_at"]
    readonly_fields = ["id", "type", "livemode", "created", "status", "attempts", "note", "last_error", "received_at",
                       "processed_at", "payload"]
    actions = ["process_again"]

    @admin.action(description="Process again (on the workers)")
    def process_again(self, request, queryset):
        done = sum(1 for event in queryset if stripe_event_retry(event=event))
        self.message_user(request, f"{done} event(s) handed to the workers again.", messages.SUCCESS)


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ["stripe_id", "user", "livemode", "tier", "pending_tier", "status", "current_period_end",
                    "cancel_at_period_end", "grace_until", "cancel_requested_at", "cancel_error", "updated_at"]
    list_filter = ["livemode", "tier", "status", "cancel_at_period_end"]
    search_fields = ["stripe_id", "user__email", "price_id"]
    list_select_related = ["user"]
    ordering = ["-updated_at"]


@admin.register(StripeCustomer)
class StripeCustomerAdmin(ReadOnlyAdmin):
    list_display = ["stripe_id", "user", "livemode", "created_at"]
    list_filter = ["livemode"]
    search_fields = ["stripe_id", "user__email"]
    list_select_related = ["user"]


@admin.register(TierPrice)
class TierPriceAdmin(ReadOnlyAdmin):
    list_display = ["tier", "livemode", "amount_shown", "lookup_key", "stripe_price_id", "active", "source",
                    "created_at"]
    list_filter = ["tier", "livemode", "active", "source"]

    @admin.display(description="Amount")
    def amount_shown(self, price):
        return f"{minor_display(price.amount_minor, price.currency)} {price.currency.upper()}"


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    list_display = ["stripe_id", "user", "livemode", "tier", "promotion_code", "status", "created_at", "completed_at"]
    list_filter = ["status", "livemode", "tier"]
    search_fields = ["stripe_id", "user__email"]
    list_select_related = ["user", "promotion_code"]
    ordering = ["-created_at"]


@admin.register(PromotionCode)
class PromotionCodeAdmin(ReadOnlyAdmin):
    """A minimal list; the pricing part's discounts page manages codes."""

    list_display = ["code", "percent_off", "reason", "livemode", "active", "valid_until", "redemptions"]
    list_filter = ["active", "livemode"]
    search_fields = ["code", "reason"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            redemption_count=Count("checkout_sessions", filter=Q(checkout_sessions__status=CheckoutSession.Status.COMPLETE)))

    @admin.display(description="Redemptions", ordering="redemption_count")
    def redemptions(self, code):
        return code.redemption_count
