"""Server-rendered pages of accounts: sign-in by email link, the profile, the developer portal."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors
from accounts.login import (
    LoginLinkNotSent,
    LoginRateLimited,
    login_link_request,
    login_token_peek,
    login_token_redeem,
)
from accounts.models import ApiKey, User
from accounts.services.keys import (
    ROTATION_GRACE_MAX_SECONDS,
    ApiKeyNotUsable,
    CreatedApiKey,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
)
from accounts.services.users import user_update
from levqor.client_ip import client_ip
from levqor.counters import COUNTERS_DOWN
from levqor.errors import AppError
from levqor.http_errors import store_down_error
from levqor.redirects import safe_return_to
from levqor.security import billing_form_action
from levqor.show_once import show_once_put, show_once_take

# --- sign-in ---------------------------------------------------------------------------------


class LoginForm(forms.Form):
    email = forms.EmailField(max_length=254)
    returnTo = forms.CharField(required=False, max_length=512)  # noqa: N815 (the contract's name)


@require_http_methods(["GET", "POST"])
def login_page(request):
    return_to = request.GET.get("returnTo") or request.GET.get("next") or ""
    if request.method == "GET":
        if request.user.is_authenticated:
            return redirect(safe_return_to(return_to))
        return render(request, "accounts/login.html", {"form": LoginForm(initial={"returnTo": return_to})})
    form = LoginForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/login.html", {"form": form}, status=400)
    try:
        login_link_request(email=form.cleaned_data["email"], ip=client_ip(request),
                           return_to=form.cleaned_data["returnTo"])
    except LoginRateLimited as exc:
        minutes = max(1, round(exc.retry_after / 60))
        messages.error(request, f"Too many sign-in links were asked for. Please try again in about {minutes} "
                                f"minute{'s' if minutes != 1 else ''}.")
        response = render(request, "accounts/login.html", {"form": form}, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    except LoginLinkNotSent:
        messages.error(request, "We could not send the email just now. Please try again in a few minutes.")
        return render(request, "accounts/login.html", {"form": form}, status=503)
    except COUNTERS_DOWN:
        # Without the rate-limit counters no link is sent (the limits could not be kept): say so.
        store_down = store_down_error()
        messages.error(request, "Signing in is unavailable for a moment. Please try again in a few seconds.")
        response = render(request, "accounts/login.html", {"form": form}, status=store_down.status)
        response["Retry-After"] = str(store_down.retry_after)
        return response
    return render(request, "accounts/login_sent.html", {"email": form.cleaned_data["email"]})


@require_http_methods(["GET", "POST"])
def login_confirm(request):
    token = request.GET.get("token", "") or request.POST.get("token", "")
    if request.method == "GET":
        # A GET only shows the button: mail scanners that open links must not use them up.
        valid = login_token_peek(token) is not None
        return render(request, "accounts/login_confirm.html", {"token": token, "valid": valid},
                      status=200 if valid else 400)
    redeemed = login_token_redeem(token=token)
    if redeemed is None:
        return render(request, "accounts/login_confirm.html", {"token": "", "valid": False}, status=400)
    login(request, redeemed.user, backend="django.contrib.auth.backends.ModelBackend")  # rotates the session
    return redirect(safe_return_to(redeemed.return_to))


@require_POST
def logout_page(request):
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("/login")


# --- profile ---------------------------------------------------------------------------------


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    locale = forms.RegexField(max_length=16, regex=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
                              error_messages={"invalid": "Use a language tag such as en-GB or fr-FR."})
    currency = forms.ChoiceField(choices=User.Currency.choices)


@login_required
@require_http_methods(["GET", "POST"])
def account_page(request):
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            user_update(user=user, changes=dict(form.cleaned_data))
            messages.success(request, "Your profile is saved.")
            return redirect("/account")
        status = 400
    else:
        form = ProfileForm(initial={"name": user.name, "locale": user.locale, "currency": user.currency})
        status = 200
    return render(request, "accounts/account.html", {"form": form}, status=status)


# --- developer portal ---------------------------------------------------------------------------


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    mode = forms.ChoiceField(choices=[("live", "Live"), ("test", "Test")], required=False)  # empty: live


class KeyRotateForm(forms.Form):
    grace_hours = forms.IntegerField(min_value=0, max_value=ROTATION_GRACE_MAX_SECONDS // 3600, initial=24)


def _key_status(api_key: ApiKey) -> str:
    if api_key.revoked_at:
        return "revoked"
    if not api_key.is_usable():
        return "expired"
    if api_key.expires_at:
        return "expiring"
    return "active"


# A key just created or rotated waits here, in the session, for the one page view that shows it
# (levqor.show_once: no longer than SHOW_ONCE_SECONDS).
NEW_KEY_SESSION_KEY = "accounts_developer_new_key"


def _developer_show_once(request, created: CreatedApiKey):
    """Post/Redirect/Get: the raw key goes to the session and the browser to /developer, which
    shows it once and forgets it, so a reload neither sends the form again nor shows the key."""
    show_once_put(request, NEW_KEY_SESSION_KEY, {"raw_key": created.raw_key})
    return redirect("/developer")


def _developer_render(request, *, form=None, status=200):
    keys = list(selectors.api_key_list_for(request.user))
    for api_key in keys:
        api_key.status = _key_status(api_key)
    new_key = show_once_take(request, NEW_KEY_SESSION_KEY)
    return render(request, "accounts/developer.html", {
        "keys": keys, "usage": selectors.api_usage_for(request.user), "form": form or KeyCreateForm(),
        "rotate_form": KeyRotateForm(), "new_key": new_key,
    }, status=status)


@login_required
@never_cache  # the page may hold a raw key: no copy of it in any cache
@require_http_methods(["GET", "POST"])
@billing_form_action
def developer_page(request):
    if request.method == "GET":
        return _developer_render(request)
    form = KeyCreateForm(request.POST)
    if not form.is_valid():
        return _developer_render(request, form=form, status=400)
    created = api_key_create(owner=request.user, name=form.cleaned_data["name"],
                             livemode=form.cleaned_data["mode"] != "test", actor=request.user,
                             ip=client_ip(request), details={"via": "portal"})
    return _developer_show_once(request, created)


def _owned_key(request, key_id) -> ApiKey:
    api_key = selectors.api_key_get_for(request.user, key_id=key_id)
    if api_key is None:
        raise Http404("No such key.")
    return api_key


@login_required
@require_POST
def developer_key_rotate(request, key_id):
    api_key = _owned_key(request, key_id)
    form = KeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The grace period must be a whole number of hours between 0 and "
                                f"{ROTATION_GRACE_MAX_SECONDS // 3600}.")
        return redirect("/developer")
    try:
        created = api_key_rotate(api_key=api_key, grace_seconds=form.cleaned_data["grace_hours"] * 3600,
                                 actor=request.user, ip=client_ip(request), details={"via": "portal"})
    except ApiKeyNotUsable:
        messages.error(request, f"The key {api_key.prefix}… is revoked or expired, so it cannot be rotated.")
        return redirect("/developer")
    except AppError as exc:  # e.g. an admin:read key of an account that is no longer staff
        messages.error(request, exc.message)
        return redirect("/developer")
    hours = form.cleaned_data["grace_hours"]
    messages.success(request, f"The key {api_key.prefix}… is replaced. "
                              + (f"It keeps working for {hours} hour{'s' if hours != 1 else ''}."
                                 if hours else "It stopped working now."))
    return _developer_show_once(request, created)


@login_required
@require_POST
def developer_key_revoke(request, key_id):
    api_key = _owned_key(request, key_id)
    api_key_revoke(api_key=api_key, actor=request.user, ip=client_ip(request), details={"via": "portal"})
    messages.success(request, f"The key {api_key.prefix}… is revoked; it no longer works.")
    return redirect("/developer")
