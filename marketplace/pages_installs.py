"""The listing page's forms (session + CSRF, signed in): uninstall the module, review the listing.
Both answer with a redirect back to /marketplace/<slug> and a message saying what happened or why
not. A signed-in person acts in live mode (test mode belongs to test-mode API keys)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from levqor.errors import AppError
from marketplace.models import Installation, Listing
from marketplace.selectors_listings import listing_public_get
from marketplace.services.installs import listing_uninstall
from marketplace.services.reviews import listing_review_create


def _listing_page(slug: str):
    return redirect(f"/marketplace/{slug}")


def _published(slug: str) -> Listing | None:
    """The public listing (published, by an approved partner that is not deleted)."""
    return listing_public_get(slug=slug)


@login_required
@require_POST
def listing_uninstall_page(request, slug: str):
    install = Installation.objects.filter(user=request.user, listing__slug=slug, livemode=True,
                                          uninstalled_at__isnull=True).select_related("listing").first()
    if install is None:
        messages.error(request, "This module is not installed on your account.")
        return _listing_page(slug)
    listing_uninstall(user=request.user, installation=install)
    messages.success(request, f"{install.listing.name} is uninstalled: its workflow {install.listing.workflow_name} "
                              "is gone from your account.")
    return _listing_page(slug)


@login_required
@require_POST
def listing_review_page(request, slug: str):
    listing = _published(slug)
    if listing is None:
        messages.error(request, "This listing is not available.")
        return redirect("/marketplace")
    try:
        stars = int(request.POST.get("stars", ""))
    except ValueError:
        messages.error(request, "Choose 1 to 5 stars.")
        return _listing_page(slug)
    try:
        listing_review_create(user=request.user, listing=listing, stars=stars, body=request.POST.get("body", ""))
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Thank you: your review is published.")
    return _listing_page(slug)
