"""The credentials block of the /partners page (templates/partners/_credentials.html) and the
forms it posts: create, rotate, revoke, each Post/Redirect/Get back to /partners, the new secret
shown once from the session (levqor.show_once, as /developer shows a new API key).

The /partners page includes the block and passes it credentials_page_context(request, partner):
    partner                 the signed-in user's Partner (or None: no block content but a pointer)
    credentials             the partner's credentials, live first (each with .overlap_end)
    new_credential_secret   {"key_id", "secret"} once, right after a create or rotate; else None
    may_create              approved and under the limit of live credentials
    not_approved_reason     why no credentials can be made yet (not approved), else ""
    max_live_credentials, rotation_overlap_hours_default, rotation_overlap_hours_max
GET /partners/credentials shows the block on a page of its own."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from levqor.errors import AppError
from levqor.show_once import show_once_put, show_once_take
from partners.models import Partner, PartnerCredential
from partners.selectors import partner_live_for
from partners.services.credentials import (
    MAX_LIVE_CREDENTIALS,
    ROTATION_OVERLAP_MAX_SECONDS,
    ROTATION_OVERLAP_SECONDS,
    CreatedCredential,
    credential_create,
    credential_get_for,
    credential_list_for,
    credential_revoke,
    credential_rotate,
)

RETURN_PATH = "/partners"
NEW_SECRET_SESSION_KEY = "partners_new_credential_secret"  # noqa: S105  (a session slot's name)


class CredentialCreateForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)


class CredentialRotateForm(forms.Form):
    overlap_hours = forms.IntegerField(min_value=0, max_value=ROTATION_OVERLAP_MAX_SECONDS // 3600,
                                       initial=ROTATION_OVERLAP_SECONDS // 3600)


def _not_approved_reason(partner: Partner) -> str:
    if partner.is_approved:
        return ""
    reasons = {
        Partner.Status.PENDING: "Your partner application is waiting for review: credentials can be made once it is "
                                "approved.",
        Partner.Status.REJECTED: "Your partner application was rejected, so no credentials can be made.",
        Partner.Status.SUSPENDED: "Your partner account is suspended: its credentials do not work and no new ones "
                                  "can be made until it is reinstated.",
    }
    reason = reasons.get(partner.status, "Only an approved partner can have credentials.")
    return reason + (f" ({partner.status_reason})" if partner.status_reason else "")


def credentials_page_context(request, partner: Partner | None) -> dict:
    """The context templates/partners/_credentials.html needs (see the module's docstring). Takes the
    one-time secret out of the session: call it only for the page that shows the block."""
    if partner is None:
        return {"partner": None, "credentials": [], "new_credential_secret": None, "may_create": False,
                "not_approved_reason": "", "max_live_credentials": MAX_LIVE_CREDENTIALS}
    now = timezone.now()
    credentials = list(credential_list_for(partner))
    for credential in credentials:
        credential.overlap_end = credential.overlap_ends_at(now) if credential.is_live else None
    live = sum(1 for credential in credentials if credential.is_live)
    return {
        "partner": partner, "credentials": credentials,
        "new_credential_secret": show_once_take(request, NEW_SECRET_SESSION_KEY),
        "may_create": partner.is_approved and live < MAX_LIVE_CREDENTIALS,
        "not_approved_reason": _not_approved_reason(partner),
        "max_live_credentials": MAX_LIVE_CREDENTIALS,
        "rotation_overlap_hours_default": ROTATION_OVERLAP_SECONDS // 3600,
        "rotation_overlap_hours_max": ROTATION_OVERLAP_MAX_SECONDS // 3600,
    }


def _my_credential(request, key_id: str) -> PartnerCredential:
    partner = partner_live_for(request.user)
    credential = credential_get_for(partner, key_id=key_id) if partner else None
    if credential is None:
        raise Http404("No such credential.")
    return credential


def _show_once(request, created: CreatedCredential):
    show_once_put(request, NEW_SECRET_SESSION_KEY, {"key_id": created.credential.key_id, "secret": created.secret})
    return redirect(RETURN_PATH)


@login_required
@never_cache  # the page may hold a secret: no copy of it in any cache
@require_http_methods(["GET", "POST"])
def credentials_page(request):
    """GET: the block on a page of its own. POST: make a credential (the block's create form)."""
    if request.method == "GET":
        return render(request, "partners/credentials.html", credentials_page_context(request, partner_live_for(request.user)))
    partner = partner_live_for(request.user)
    if partner is None:
        messages.error(request, "Apply to become a partner first.")
        return redirect(RETURN_PATH)
    form = CredentialCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The name is at most 100 characters.")
        return redirect(RETURN_PATH)
    try:
        created = credential_create(partner=partner, name=form.cleaned_data["name"], actor=request.user)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect(RETURN_PATH)
    messages.success(request, f"The credential {created.credential.key_id} is made.")
    return _show_once(request, created)


@login_required
@require_POST
def credential_rotate_view(request, key_id):
    credential = _my_credential(request, key_id)
    form = CredentialRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The overlap must be a whole number of hours between 0 and "
                                f"{ROTATION_OVERLAP_MAX_SECONDS // 3600}.")
        return redirect(RETURN_PATH)
    hours = form.cleaned_data["overlap_hours"]
    try:
        created = credential_rotate(credential=credential, overlap_seconds=hours * 3600, actor=request.user)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect(RETURN_PATH)
    messages.success(request, f"The credential {key_id} has a new secret. "
                              + (f"The old one keeps working for {hours} hour{'s' if hours != 1 else ''}."
                                 if hours else "The old one stopped working now."))
    return _show_once(request, created)


@login_required
@require_POST
def credential_revoke_view(request, key_id):
    credential = _my_credential(request, key_id)
    credential_revoke(credential=credential, actor=request.user)
    messages.success(request, f"The credential {key_id} is revoked; it no longer works.")
    return redirect(RETURN_PATH)
