"""Partners' payouts in Django admin: Connect accounts and payouts (read-only: Stripe and the
daily run write them), an action "retry failed payouts now" (only for staff with the permission
marketplace.retry_payout, and superusers), and the orders due that are held
and why (computed, never stored: payouts not enabled, no Stripe account, partner suspended)."""

from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from levqor.admin import ReadOnlyAdmin
from marketplace.models import ConnectAccount, Payout
from marketplace.services.connect import connect_status
from marketplace.services.payouts import connect_accounts_for, orders_due, payout_hold_reason, payouts_retry

DUE_ROWS = 500


@admin.register(ConnectAccount)
class ConnectAccountAdmin(ReadOnlyAdmin):
    list_display = ["stripe_account_id", "partner", "livemode", "status", "payouts_enabled", "charges_enabled",
                    "details_submitted", "requirements", "updated_at"]
    list_filter = ["livemode", "payouts_enabled", "details_submitted"]
    search_fields = ["stripe_account_id", "partner__name", "partner__email"]
    list_select_related = ["partner"]
    readonly_fields = ["partner", "livemode", "stripe_account_id", "payouts_enabled", "charges_enabled",
                       "details_submitted", "requirements_due", "event_created", "created_at", "updated_at"]

    @admin.display(description="Status")
    def status(self, account):
        return connect_status(account).replace("_", " ")

    @admin.display(description="Requirements due")
    def requirements(self, account):
        return ", ".join(account.requirements_due) or "-"


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdmin):
    list_display = ["id", "order_id", "partner", "livemode", "amount", "status", "attempts", "stripe_transfer_id",
                    "amount_reversed_minor", "error", "created_at", "paid_at", "reversed_at"]
    list_filter = ["status", "livemode", "partner"]
    search_fields = ["order__id", "stripe_transfer_id", "stripe_reversal_id", "idempotency_key", "partner__name"]
    list_select_related = ["partner"]
    ordering = ["-created_at"]
    readonly_fields = ["order", "partner", "connect_account", "livemode", "amount_minor", "currency", "status",
                       "idempotency_key", "stripe_transfer_id", "stripe_reversal_id", "amount_reversed_minor",
                       "attempts", "error", "created_at", "paid_at", "reversed_at"]
    actions = ["retry_failed"]
    change_list_template = "admin/marketplace/payout/change_list.html"

    @admin.display(description="Amount")
    def amount(self, payout):
        return f"{payout.amount_display} {payout.currency.upper()}"

    def has_retry_payout_permission(self, request) -> bool:
        """Moving money needs more than the view permission: marketplace.retry_payout (superusers have it)."""
        return request.user.has_perm(f"{self.opts.app_label}.retry_payout")

    @admin.action(description="Retry failed payouts now", permissions=["retry_payout"])
    def retry_failed(self, request, queryset):
        failed = list(queryset.filter(status=Payout.Status.FAILED))
        paid = payouts_retry(payouts=failed)
        self.message_user(request, f"{paid} of {len(failed)} failed payout(s) paid now; the others stay failed or held "
                                   "(see their error and the orders due).",
                          messages.SUCCESS if paid == len(failed) else messages.WARNING)

    def get_urls(self):
        return [path("due/", self.admin_site.admin_view(self.due_view), name="marketplace_payout_due"),
                *super().get_urls()]

    def due_view(self, request):
        """The orders whose hold is over and that are not paid yet: held (and why) or to be paid
        by the next run (or failed, with attempts left)."""
        orders = list(orders_due(now=timezone.now())[:DUE_ROWS])
        accounts = connect_accounts_for(orders)
        rows = []
        for order in orders:
            reason = payout_hold_reason(partner=order.partner, account=accounts.get((order.partner_id, order.livemode)),
                                        order=order)
            payout = getattr(order, "payout", None)
            state = (f"held: {reason}" if reason else
                     f"failed ({payout.attempts}/{settings.PAYOUT_MAX_ATTEMPTS}): {payout.error}"
                     if payout is not None and payout.status == Payout.Status.FAILED else "to be paid by the next run")
            rows.append({"order": order, "state": state, "held": bool(reason),
                         "partner_url": reverse("admin:partners_partner_change", args=[order.partner_id])})
        held = sum(1 for row in rows if row["held"])
        return TemplateResponse(request, "admin/marketplace/payout/due.html", {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": "Orders due for payout",
            "rows": rows, "held": held, "shown_max": DUE_ROWS, "hold_days": settings.PAYOUT_HOLD_DAYS})
