"""The Payouts section of /partners (registered with partners.sections in ready()) and its two
pages: /partners/payouts/onboard (POST, CSRF: a Stripe Account Link, 303 there) and
/partners/payouts/return (where Stripe sends the partner back: the account asked for its state)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from levqor.errors import AppError
from levqor.money import minor_display
from marketplace.models import ConnectAccount
from marketplace.selectors import orders_awaiting_payout, payouts_of
from marketplace.services.connect import connect_account_refresh, connect_onboarding_link, connect_status
from marketplace.services.payout_reversals import order_payout_amount
from marketplace.services.payouts import HOLD_DISPUTED, payout_hold_reason
from partners.selectors import partner_live_for

PARTNERS_PAGE = "/partners"
HISTORY_ROWS = 50


def payouts_section(request, partner):
    """(template, context) of the Payouts section for the partner's owner: Connect status, the
    onboarding button, the payout history and the orders still to be paid (held or in their hold)."""
    account = ConnectAccount.objects.filter(partner=partner, livemode=True).first()
    reason = payout_hold_reason(partner=partner, account=account)
    now = timezone.now()
    awaiting = [{"order": order, "share": minor_display(order_payout_amount(order), order.currency),
                 "state": _awaiting_state(order, reason=reason or (HOLD_DISPUTED if order.disputed_at else ""),
                                          now=now)}
                for order in orders_awaiting_payout(partner, livemode=True)[:HISTORY_ROWS]]
    return "marketplace/partners_payouts.html", {
        "partner": partner, "account": account, "connect_status": connect_status(account),
        "hold_reason": reason, "payouts": list(payouts_of(partner, livemode=True)[:HISTORY_ROWS]),
        "awaiting": awaiting, "hold_days": settings.PAYOUT_HOLD_DAYS}


def _awaiting_state(order, *, reason: str, now) -> str:
    payout = getattr(order, "payout", None)
    if order.payout_due_at is None or order.payout_due_at > now:
        return "in the hold period"
    if reason:
        return f"held: {reason}"
    if payout is not None and payout.status == payout.Status.FAILED:
        return f"failed ({payout.attempts} attempt(s)), tried again by the next daily run"
    return "due: paid by the next daily run"


def payouts_section_form_action() -> list[str]:
    return list(settings.CONNECT_FORM_ACTION_ORIGINS)


@login_required
@require_POST
def payouts_onboard(request):
    """The Set up payouts / Continue onboarding button: an Account Link, then 303 to Stripe."""
    partner = partner_live_for(request.user)
    if partner is None:
        messages.error(request, "Apply as a partner first.")
        return redirect(PARTNERS_PAGE)
    try:
        url = connect_onboarding_link(partner=partner, livemode=True, actor=request.user)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect(PARTNERS_PAGE)
    response = redirect(url)
    response.status_code = 303  # after a POST: the browser GETs Stripe's page
    return response


@login_required
@never_cache
@require_GET
def payouts_return(request):
    """Back from Stripe's onboarding: the account's state asked of Stripe, then /partners."""
    partner = partner_live_for(request.user)
    account = ConnectAccount.objects.filter(partner=partner, livemode=True).first() if partner else None
    if account is None:
        messages.info(request, "Payouts are not set up yet.")
        return redirect(PARTNERS_PAGE)
    try:
        account = connect_account_refresh(account=account)
    except AppError as exc:
        messages.warning(request, f"We could not check your Stripe account just now ({exc.message}); "
                                  "its status updates when Stripe tells us.")
        return redirect(PARTNERS_PAGE)
    if account.payouts_enabled:
        messages.success(request, "Payouts are enabled: your share of each sale is transferred to your Stripe account.")
    else:
        due = ", ".join(account.requirements_due) or "nothing listed yet"
        messages.info(request, f"Stripe onboarding is not complete yet; Stripe still needs: {due}.")
    return redirect(PARTNERS_PAGE)
