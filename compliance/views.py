"""Server-rendered compliance pages: the terms interstitial, cookie consent endpoints, settings
(consents, marketing, export, erasure), marketing confirmation and unsubscribe."""

import json
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import email_normalise
from accounts.personal_data import personal_data_export
from compliance import selectors, services
from compliance.middleware import SESSION_KEY
from compliance.selectors import CONSENT_COOKIE, COOKIE_CATEGORIES
from levqor.client_ip import client_ip
from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response
from levqor.redirects import safe_return_to


def _sign_in_first(request):
    return HttpResponseRedirect(f"/login?{urlencode({'returnTo': request.get_full_path()})}")


def _ua(request) -> str:
    return request.headers.get("User-Agent", "")


# --- terms ------------------------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
def accept_terms(request):
    return_to = safe_return_to(request.POST.get("returnTo") or request.GET.get("returnTo"))
    if not request.user.is_authenticated:
        return _sign_in_first(request)
    current = selectors.terms_current()
    version = selectors.terms_version_get(version_id=current.id) if current else None
    if request.method == "POST":
        if version is None:
            return HttpResponseRedirect(return_to)
        # The version the page showed: if a newer one was published meanwhile, show that one.
        if request.POST.get("version_id") != str(version.pk):
            messages.info(request, "The terms changed while you were reading them; please review this version.")
            return HttpResponseRedirect(f"/legal/accept-terms?{urlencode({'returnTo': return_to})}")
        services.terms_accept(user=request.user, version=version, ip=client_ip(request), user_agent=_ua(request))
        request.session[SESSION_KEY] = version.pk
        return HttpResponseRedirect(return_to)
    already = version is not None and selectors.terms_accepted(user=request.user, version_id=version.pk)
    return render(request, "compliance/accept_terms.html",
                  {"version": version, "return_to": return_to, "already_accepted": already})


# --- cookie consent ---------------------------------------------------------------------------

def _consent_cookie_value(record) -> str:
    data = {"v": record.policy_version, "id": record.anonymous_id,
            "c": {name: record.choices[name] for name in COOKIE_CATEGORIES},
            "t": int(record.at.timestamp())}
    return quote(json.dumps(data, separators=(",", ":")))


def _choices_from(request) -> tuple[dict | None, bool]:
    """(choices, is_json) from a JSON body {"choices": {...}} or {"action": ...}, or the banner's form."""
    is_json = request.content_type == "application/json"
    if is_json:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return None, True
        if not isinstance(body, dict):
            return None, True
        action, given = body.get("action"), body.get("choices")
    else:
        action = request.POST.get("action")
        given = {name: request.POST.get(name) in ("on", "true", "1") for name in COOKIE_CATEGORIES}
    if action == "accept_all":
        return {name: True for name in COOKIE_CATEGORIES}, is_json
    if action == "reject_all":
        return {name: False for name in COOKIE_CATEGORIES}, is_json
    if isinstance(given, dict) and all(isinstance(given.get(name, False), bool) for name in COOKIE_CATEGORIES):
        return {name: given.get(name, False) for name in COOKIE_CATEGORIES}, is_json
    return None, is_json


@require_POST
def consent(request):
    """Record a cookie-consent decision (JSON from the banner's script, or its plain form without
    script): appended to the log, and stored in the first-party levqor_consent cookie."""
    choices, is_json = _choices_from(request)
    if choices is None:
        return error_response(AppError(ErrorCode.VALIDATION_FAILED, 'Send {"action": "accept_all"|"reject_all"} or '
                                       '{"choices": {"functional": bool, "analytics": bool, "marketing": bool}}.'))
    previous = selectors.cookie_consent_from_request(request)
    record = services.cookie_consent_record(
        anonymous_id=previous.anonymous_id if previous else None, user=request.user, choices=choices,
        ip=client_ip(request), user_agent=_ua(request))
    if is_json:
        response = JsonResponse({"ok": True, "policy_version": record.policy_version, "choices": record.choices},
                                status=201)
    else:
        response = HttpResponseRedirect(safe_return_to(request.POST.get("next"), default="/"))
    response.set_cookie(CONSENT_COOKIE, _consent_cookie_value(record), max_age=settings.COOKIE_CONSENT_MAX_AGE,
                        samesite="Lax", secure=request.is_secure(), httponly=False)
    return response


@require_POST
def analytics_event(request):
    """A first-party analytics event: stored (201) only with the visitor's analytics consent;
    otherwise 204 and nothing is kept."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
        return error_response(AppError(ErrorCode.VALIDATION_FAILED, 'Send {"name": "...", "path"?: "..."}.'))
    event = services.analytics_event_record(consent=selectors.cookie_consent_from_request(request),
                                            user=request.user, name=body["name"], path=str(body.get("path") or ""))
    if event is None:
        return HttpResponse(status=204)
    return JsonResponse({"ok": True, "recorded": True}, status=201)


# --- settings ---------------------------------------------------------------------------------

def settings_page(request):
    if not request.user.is_authenticated:
        return _sign_in_first(request)
    user = request.user
    return render(request, "compliance/settings.html", {
        "acceptance": selectors.terms_latest_acceptance(user=user),
        "current_terms": selectors.terms_current(),
        "marketing": selectors.marketing_consent_get(user=user),
        "cookie_consent": selectors.cookie_consent_from_request(request),
    })


@require_POST
def settings_marketing(request):
    if not request.user.is_authenticated:
        return _sign_in_first(request)
    action = request.POST.get("action")
    if action == "opt_in":
        consent_state = services.marketing_opt_in_request(user=request.user, source="settings", ip=client_ip(request),
                                                          user_agent=_ua(request))
        if consent_state.status == consent_state.Status.GRANTED:
            messages.info(request, "You already receive our marketing emails.")
        else:
            messages.success(request, f"We sent a confirmation link to {request.user.email}. "
                                      "Nothing is sent to you until you confirm.")
    elif action == "opt_out":
        services.marketing_unsubscribe(user=request.user, source="settings", ip=client_ip(request),
                                       user_agent=_ua(request))
        messages.success(request, "You are unsubscribed from marketing emails.")
    return HttpResponseRedirect("/settings")


def settings_export(request):
    if not request.user.is_authenticated:
        return _sign_in_first(request)
    data = personal_data_export(user=request.user)
    response = HttpResponse(json.dumps(data, cls=DjangoJSONEncoder, indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="levqor-data-{timezone.now():%Y%m%d}.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def settings_delete(request):
    if not request.user.is_authenticated:
        return _sign_in_first(request)
    error = ""
    if request.method == "POST":
        typed = request.POST.get("email", "")
        if email_normalise(typed) == email_normalise(request.user.email):
            user = request.user
            services.account_erase(user=user, actor=user, ip=client_ip(request))
            logout(request)
            messages.success(request, "Your account was deleted.")
            return HttpResponseRedirect("/")
        error = "That is not your account's email address; nothing was deleted."
    return render(request, "compliance/delete_account.html", {"error": error}, status=400 if error else 200)


# --- marketing links from emails ----------------------------------------------------------------

_TOKEN_PROBLEMS = {"unknown": "This confirmation link is not valid.",
                   "used": "This confirmation link was already used.",
                   "expired": "This confirmation link has expired; ask for a new one in your settings."}


@require_http_methods(["GET", "POST"])
def marketing_confirm(request):
    """GET shows a button (so link scanners in mailboxes do not confirm); POST confirms."""
    token = request.POST.get("token") or request.GET.get("token", "")
    if request.method == "GET":
        return render(request, "compliance/marketing_confirm.html", {"token": token})
    try:
        services.marketing_opt_in_confirm(raw_token=token, source="email_link", ip=client_ip(request),
                                          user_agent=_ua(request))
    except services.OptInTokenInvalid as exc:
        return render(request, "compliance/marketing_confirm.html",
                      {"problem": _TOKEN_PROBLEMS[exc.reason]}, status=400)
    return render(request, "compliance/marketing_confirm.html", {"confirmed": True})


@csrf_exempt  # RFC 8058: mail providers POST "List-Unsubscribe=One-Click" with no cookie; the signed token is the proof
@require_http_methods(["GET", "POST"])
def marketing_unsubscribe(request, token):
    user = services.unsubscribe_token_user(token)
    if user is None:
        return render(request, "compliance/unsubscribe.html", {"problem": True}, status=404)
    if request.method == "GET":
        return render(request, "compliance/unsubscribe.html", {"token": token})
    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    services.marketing_unsubscribe(user=user, source="one_click" if one_click else "email_link",
                                   ip=client_ip(request), user_agent=_ua(request))
    return render(request, "compliance/unsubscribe.html", {"done": True})
