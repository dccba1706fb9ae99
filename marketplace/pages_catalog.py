"""The marketplace's pages: /marketplace (search, category filter, most downloaded first) and
/marketplace/<slug> (one listing: price, partner, rating and reviews, its input schema, and what the
signed-in viewer can do: install or buy, uninstall, review). The forms post to the buy, uninstall
and review views of marketplace/urls.py."""

import json

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from levqor.security import billing_form_action
from marketplace.models import Listing
from marketplace.selectors_listings import listing_public_get, listing_reviews, listing_viewer_state, listings_public

CATALOG_PAGE_SIZE = 12
REVIEWS_PAGE_SIZE = 10
Q_MAX = 100
CURRENCY_SIGNS = {"usd": "$", "eur": "€", "gbp": "£"}


def price_label(listing: Listing) -> str:
    """"Free", "$9.99", or "9.99 CHF" where the currency has no sign here."""
    if listing.is_free:
        return "Free"
    sign = CURRENCY_SIGNS.get(listing.currency)
    amount = listing.price_display
    return f"{sign}{amount}" if sign else f"{amount} {listing.currency.upper()}"


@require_GET
def marketplace_catalog(request):
    q = (request.GET.get("q") or "").strip()[:Q_MAX]
    category = request.GET.get("category") or ""
    unknown_category = category and category not in Listing.Category.values
    listings = listings_public(category=None if unknown_category else category or None, q=q or None)
    page = Paginator(listings, CATALOG_PAGE_SIZE).get_page(request.GET.get("page"))
    for listing in page:
        listing.price_label = price_label(listing)
    query = {"q": q, "category": "" if unknown_category else category}
    context = {"page": page, "q": q, "category": query["category"], "categories": Listing.Category.choices,
               "unknown_category": unknown_category,
               "query": urlencode({k: v for k, v in query.items() if v})}
    return render(request, "marketplace/catalog.html", context, status=400 if unknown_category else 200)


@require_GET
@billing_form_action  # the Buy form of a paid listing redirects to Stripe Checkout
def marketplace_listing(request, slug):
    listing = listing_public_get(slug=slug)
    if listing is None:
        raise Http404("No such listing.")
    reviews = Paginator(listing_reviews(listing), REVIEWS_PAGE_SIZE).get_page(request.GET.get("page"))
    for review in reviews:
        # A first name at most: the page is public, the reviewer's full name and email are not.
        review.author = (review.user.name or "").split(" ")[0] or "A buyer"
    state = listing_viewer_state(listing=listing, user=request.user)
    context = {
        "listing": listing,
        "price": price_label(listing),
        "buy_label": "Install (free)" if listing.is_free else f"Buy for {price_label(listing)}",
        "reviews": reviews,
        "schema": json.dumps(listing.input_schema, indent=2, sort_keys=True),
        "is_partner": request.user.is_authenticated and listing.partner.owner_id == request.user.pk,
        "star_choices": [(n, f"{n} star{'s' if n > 1 else ''}") for n in range(5, 0, -1)],
        **state,
    }
    return render(request, "marketplace/listing.html", context)
