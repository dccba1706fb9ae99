"""The /partners page: apply as a partner, then follow the review (status, reasons, trail), the
credentials and the partner's webhook endpoints. Post/Redirect/Get; CSRF as every form."""

import json

from csp.decorators import csp_update
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from levqor.errors import AppError
from levqor.show_once import show_once_put
from levqor.webhooks.views import NEW_SECRET_SLOT, webhooks_block
from partners.credential_pages import credentials_page_context
from partners.models import Partner, PartnerReviewEvent
from partners.sections import partner_page_form_action_origins, partner_page_sections_render
from partners.selectors import partner_live_for
from partners.services.registry import NAME_MAX, WEBHOOK_URL_MAX, partner_register


class PartnerApplyForm(forms.Form):
    """The shape only; the registry service checks the values (the same checks as the API)."""

    name = forms.CharField(max_length=NAME_MAX)
    email = forms.CharField(max_length=254)
    webhook_url = forms.CharField(max_length=WEBHOOK_URL_MAX, label="Webhook URL")
    metadata = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                               help_text='Optional: a JSON object, e.g. {"website": "https://example.com"}.')

    def clean_metadata(self):
        text = self.cleaned_data["metadata"].strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError("This is not valid JSON.") from exc


def _trail(partner) -> list[dict]:
    # The partner sees what happened and why, never which member of staff decided it.
    return [{"at": e.at, "from": _label(e.from_status), "to": _label(e.to_status), "reason": e.reason}
            for e in PartnerReviewEvent.objects.filter(partner=partner).order_by("-at", "-id")]


def _label(status: str) -> str:
    if not status:
        return "new"
    return Partner.Status(status).label.lower() if status in Partner.Status.values else status


def _sections_form_action(view):
    """Sections other apps add (partners/sections.py) may have forms that answer with a redirect
    elsewhere (the Payouts section's to Stripe's onboarding), which browsers hold to form-action:
    this page adds their origins, read when the page is served."""
    def wrapped(request, *args, **kwargs):
        origins = partner_page_form_action_origins()
        if not origins:
            return view(request, *args, **kwargs)
        return csp_update({"form-action": origins})(view)(request, *args, **kwargs)
    return wrapped


@_sections_form_action
@login_required
@never_cache  # the page shows secrets once (a new credential's, a webhook endpoint's): no copy in any cache
@require_http_methods(["GET", "POST"])
def partners_page(request):
    partner = partner_live_for(request.user)
    form, status = PartnerApplyForm(), 200
    if request.method == "POST":
        if partner is not None:
            messages.info(request, "This account already has a partner.")
            return redirect("/partners")
        form = PartnerApplyForm(request.POST)
        if form.is_valid():
            try:
                partner = partner_register(owner=request.user, **form.cleaned_data)
            except AppError as exc:
                errors = exc.details.get("errors") or [{"field": exc.details.get("field"), "message": exc.message}]
                for error in errors:
                    field = error.get("field")
                    form.add_error(field if field in form.fields else None, error["message"])
            else:
                # The secret of the endpoint made at the webhook URL, shown once by the webhooks block
                # (as after a rotation): the first partner.verified can only be verified with it.
                endpoint = partner.webhook_endpoint
                show_once_put(request, NEW_SECRET_SLOT, {"secret": endpoint.secret, "url": endpoint.url,
                                                         "audience": endpoint.audience})
                messages.success(request, "Your application is in. We review it and tell you by email.")
                return redirect("/partners")
        status = 400
    context = {"partner": partner, "form": form, "trail": _trail(partner) if partner else []}
    if partner is not None:
        # Takes a just-made secret out of the session: only on this page's render (shown once).
        context.update(credentials_page_context(request, partner))
        context["webhooks"] = webhooks_block(request, audience="partner", return_to="/partners")
        context["sections"] = partner_page_sections_render(request, partner)
    return render(request, "partners/partners.html", context, status=status)
