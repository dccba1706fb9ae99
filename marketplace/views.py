"""Pages and hooks of billing: the Stripe webhook, /billing/health, and the developer portal's
Upgrade and Manage billing forms (session + CSRF), which redirect to Stripe."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from levqor.errors import AppError, ErrorCode
from levqor.health import read_only_json
from levqor.http_errors import error_response
from marketplace.selectors import billing_health, paid_tiers
from marketplace.services.checkout import billing_portal_start, checkout_session_start
from marketplace.services.webhook import stripe_webhook_receive


@csrf_exempt  # Stripe signs the body instead (Stripe-Signature); no cookie, no API key
def stripe_webhook(request):
    """POST /webhooks/stripe: verified, stored once, 200 at once; processed on the workers."""
    if request.method != "POST":
        response = error_response(AppError(ErrorCode.METHOD_NOT_ALLOWED, f'Method "{request.method}" not allowed.'))
        response["Allow"] = "POST"
        return response
    try:
        event, created = stripe_webhook_receive(body=request.body,
                                                signature=request.headers.get("Stripe-Signature", ""))
    except AppError as exc:
        return error_response(exc)
    return JsonResponse({"received": True, "id": event.pk, "duplicate": not created})


@read_only_json
def billing_health_view(request):
    """GET /billing/health: billing's state, no secret (key presence as booleans); 503 when not
    healthy (the original contract: monitors read the status code). The last failure's error
    text is for staff only."""
    report = billing_health()
    user = request.user
    if report["last_failure"] is not None and not (user.is_authenticated and user.is_staff):
        report["last_failure"].pop("error")
    return JsonResponse(report, status=200 if report["healthy"] else 503)


class UpgradeForm(forms.Form):
    tier = forms.ChoiceField(choices=[])
    code = forms.CharField(required=False, max_length=32)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tier"].choices = [(t, t) for t in paid_tiers()]


@login_required
@require_POST
def billing_upgrade(request):
    """The developer portal's Upgrade button: a Checkout Session, then 303 to Stripe's page."""
    form = UpgradeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a paid tier to upgrade to.")
        return redirect("/developer")
    try:
        started = checkout_session_start(user=request.user, livemode=True, tier=form.cleaned_data["tier"],
                                         code=form.cleaned_data["code"])
    except AppError as exc:
        errors = exc.details.get("errors") if isinstance(exc.details, dict) else None
        messages.error(request, errors[0]["message"] if errors else exc.message)
        return redirect("/developer")
    return _see_other(started.session.url)


@login_required
@require_POST
def billing_manage(request):
    """The developer portal's Manage billing button: a billing portal session, then 303 there."""
    try:
        url = billing_portal_start(user=request.user, livemode=True)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect("/developer")
    return _see_other(url)


def _see_other(url: str):
    response = redirect(url)
    response.status_code = 303  # after a POST: the browser GETs Stripe's page
    return response
