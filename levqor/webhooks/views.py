"""The /webhooks page: a signed-in user's endpoints for an audience (account by default, partner for
a partner's owner) and their recent deliveries. The endpoints+deliveries block is
templates/webhooks/_endpoints.html, filled by webhooks_block(), so other pages (/partners) include
it with their own audience; its forms come back to the page they were sent from (return_to).

A secret made by "add" or "rotate" is shown once: Post/Redirect/Get through the session, as
/developer does with keys."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from levqor.errors import AppError
from levqor.redirects import safe_return_to
from levqor.show_once import show_once_put, show_once_take
from levqor.webhooks import endpoints as services
from levqor.webhooks.events import webhook_audience_allowed, webhook_event_types
from levqor.webhooks.replay import webhook_delivery_replay
from levqor.webhooks.selectors import webhook_deliveries_of, webhook_endpoints_of

NEW_SECRET_SLOT = "webhooks_new_secret"  # noqa: S105  (a session slot's name)
RECENT_DELIVERIES = 25


def _audience(request, value: str | None) -> str:
    audience = value or "account"
    if audience not in ("account", "partner") or not webhook_audience_allowed(request.user, audience):
        raise Http404("No webhooks of this kind for this account.")
    return audience


def _page(audience: str) -> str:
    return "/webhooks" if audience == "account" else f"/webhooks?audience={audience}"


def _back(request, audience: str):
    return redirect(safe_return_to(request.POST.get("return_to"), default=_page(audience)))


def webhooks_block(request, *, audience: str, return_to: str) -> dict:
    """The context of templates/webhooks/_endpoints.html for the signed-in user and `audience`:
    include it as {% include "webhooks/_endpoints.html" with wh=webhooks %}. Pops a new secret
    waiting to be shown once."""
    new_secret = show_once_take(request, NEW_SECRET_SLOT)
    if new_secret and new_secret.get("audience") != audience:
        new_secret = None
    return {
        "audience": audience,
        "return_to": return_to,
        "endpoints": list(webhook_endpoints_of(request.user, audience=audience)),
        "deliveries": list(webhook_deliveries_of(request.user, audience=audience)[:RECENT_DELIVERIES]),
        "event_types": webhook_event_types(audience=audience),
        "new_secret": new_secret,
    }


def _show_once(request, *, endpoint, secret: str, audience: str):
    show_once_put(request, NEW_SECRET_SLOT, {"secret": secret, "url": endpoint.url, "audience": audience})
    return _back(request, audience)


@login_required
@never_cache  # the page may hold a new secret: no copy of it in any cache
@require_http_methods(["GET", "POST"])
def webhooks_page(request):
    audience = _audience(request, request.POST.get("audience") or request.GET.get("audience"))
    status = 200
    if request.method == "POST":
        try:
            endpoint = services.webhook_endpoint_create(
                owner=request.user, audience=audience, url=request.POST.get("url", ""),
                event_types=request.POST.getlist("event_types"), description=request.POST.get("description", ""))
        except AppError as exc:
            messages.error(request, exc.message)
            status = 400
        else:
            messages.success(request, f"Endpoint {endpoint.url} added.")
            return _show_once(request, endpoint=endpoint, secret=endpoint.secret, audience=audience)
    return render(request, "webhooks/endpoints.html",
                  {"webhooks": webhooks_block(request, audience=audience, return_to=_page(audience))}, status=status)


def _owned_endpoint(request, endpoint_id):
    endpoint = webhook_endpoints_of(request.user).filter(pk=endpoint_id).first()
    if endpoint is None or not webhook_audience_allowed(request.user, endpoint.audience):
        raise Http404("No such endpoint.")
    return endpoint


@login_required
@require_POST
def endpoint_rotate(request, endpoint_id):
    endpoint = _owned_endpoint(request, endpoint_id)
    secret = services.webhook_endpoint_secret_rotate(endpoint=endpoint)
    messages.success(request, f"New secret for {endpoint.url}. The previous one also signs for 24 hours.")
    return _show_once(request, endpoint=endpoint, secret=secret, audience=endpoint.audience)


@login_required
@require_POST
def endpoint_enable(request, endpoint_id):
    endpoint = services.webhook_endpoint_enable(endpoint=_owned_endpoint(request, endpoint_id))
    messages.success(request, f"{endpoint.url} is enabled.")
    return _back(request, endpoint.audience)


@login_required
@require_POST
def endpoint_disable(request, endpoint_id):
    endpoint = services.webhook_endpoint_disable(endpoint=_owned_endpoint(request, endpoint_id))
    messages.success(request, f"{endpoint.url} is disabled.")
    return _back(request, endpoint.audience)


@login_required
@require_POST
def endpoint_delete(request, endpoint_id):
    endpoint = _owned_endpoint(request, endpoint_id)
    services.webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, f"{endpoint.url} is deleted.")
    return _back(request, endpoint.audience)


@login_required
@require_POST
def delivery_replay(request, delivery_id):
    delivery = webhook_deliveries_of(request.user).filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such delivery.")
    audience = delivery.endpoint.audience if delivery.endpoint_id else "account"
    try:
        webhook_delivery_replay(delivery=delivery)
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"The {delivery.event_type} delivery is being sent again.")
    return _back(request, audience)
