"""The marketplace pages: /marketplace (search, category filter, pages, most downloaded first) and
/marketplace/<slug> (price, partner, rating and reviews, input schema, the viewer's actions)."""

import pytest
from django.test import Client

from marketplace.models import Installation, Listing, ListingReview, Order
from tests.factories import UserFactory
from tests.marketplace.store_support import listing_make
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db


def signed_in(user=None) -> Client:
    client = Client()
    client.user = user or UserFactory(terms_accepted=True)
    client.force_login(client.user)
    return client


def test_the_catalogue_lists_published_listings_by_downloads_with_price_partner_rating(client):
    low = listing_make(name="Low", downloads=1, amount_minor=999)
    high = listing_make(name="High <b>", downloads=10, rating_avg="4.50", rating_count=2)
    listing_make(name="Hidden", status="pending_review", downloads=99)
    page = client.get("/marketplace")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("High &lt;b&gt;") < html.index(">Low<") and "Hidden" not in html
    assert "$9.99" in html and "Free" in html and "4.50 of 5 (2 reviews)" in html and "10 downloads" in html
    assert f"/partners/{low.partner_id}" in html and f"/marketplace/{high.slug}" in html


def test_search_and_category_filter(client):
    listing_make(name="Invoice reader", category="integration")
    other = listing_make(name="Other", category="template")
    Listing.objects.filter(pk=other.pk).update(description="Reads invoices too")
    listing_make(name="Unrelated")

    def shown(query):
        html = client.get(f"/marketplace?{query}").content.decode()
        return sorted(name for name in ("Invoice reader", "Other", "Unrelated") if f">{name}<" in html)

    assert shown("q=invoice") == ["Invoice reader", "Other"]
    assert shown("q=invoice&category=template") == ["Other"]
    assert shown("category=integration") == ["Invoice reader"]
    assert shown("q=nothing-like-it") == []
    response = client.get("/marketplace?category=games")
    assert response.status_code == 400 and "no such category" in response.content.decode()


def test_the_catalogue_is_paginated_keeping_the_query(client):
    for n in range(14):
        listing_make(name=f"Module {n:02}", downloads=n)
    html = client.get("/marketplace?q=module").content.decode()
    assert "Page 1 of 2" in html and 'href="?q=module&amp;page=2"' in html
    second = client.get("/marketplace?q=module&page=2").content.decode()
    assert ">Module 00<" in second and ">Module 13<" not in second


def test_a_listing_page_shows_price_partner_rating_reviews_and_schema(client):
    listing = listing_make(name="Summariser", amount_minor=999, rating_avg="4.00", rating_count=2)
    older, newer = UserFactory(name="Ada Lovelace"), UserFactory(name="Grace Hopper")
    ListingReview.objects.create(listing=listing, user=older, stars=3, body="Fine <script>")
    ListingReview.objects.create(listing=listing, user=newer, stars=5, body="Great")
    page = client.get(f"/marketplace/{listing.slug}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "$9.99" in html and f'href="/partners/{listing.partner_id}"' in html
    assert "Rated <strong>4.00</strong> of 5 by 2 buyers" in html
    assert html.index("Great") < html.index("Fine &lt;script&gt;")
    assert "Ada," in html and "Lovelace" not in html and older.email not in html
    assert "&quot;maxLength&quot;: 1000" in html  # the input schema, escaped
    assert f'href="/login?returnTo=/marketplace/{listing.slug}"' in html and "Sign in to install" in html
    assert 'id="buy-form"' not in html and listing.endpoint not in html


def test_reviews_are_paginated_newest_first(client):
    listing = listing_make()
    for n in range(12):
        ListingReview.objects.create(listing=listing, user=UserFactory(name=f"Buyer{n:02} Smith"), stars=4)
    html = client.get(f"/marketplace/{listing.slug}").content.decode()
    assert "Buyer11" in html and "Buyer01" not in html and "Page 1 of 2" in html
    assert "Buyer01" in client.get(f"/marketplace/{listing.slug}?page=2").content.decode()


def test_unknown_or_unpublished_listings_are_404(client):
    assert client.get("/marketplace/nothing-here").status_code == 404
    for status in ("pending_review", "rejected", "delisted"):
        assert client.get(f"/marketplace/{listing_make(status=status).slug}").status_code == 404
    suspended = listing_make(partner=partner_make(status="suspended", name="Gone"))
    assert client.get(f"/marketplace/{suspended.slug}").status_code == 404


def test_a_signed_in_viewer_sees_install_or_buy_forms():
    free, paid = listing_make(), listing_make(amount_minor=999)
    browser = signed_in()
    html = browser.get(f"/marketplace/{free.slug}").content.decode()
    assert f'action="/marketplace/{free.slug}/buy"' in html and "Install (free)" in html
    assert "csrfmiddlewaretoken" in html
    html = browser.get(f"/marketplace/{paid.slug}").content.decode()
    assert "Buy for $9.99" in html


def test_an_installed_listing_offers_uninstall_and_a_review_once():
    listing = listing_make()
    browser = signed_in()
    Installation.objects.create(user=browser.user, listing=listing, livemode=True)
    html = browser.get(f"/marketplace/{listing.slug}").content.decode()
    assert "Installed" in html and f'action="/marketplace/{listing.slug}/uninstall"' in html
    assert f'action="/marketplace/{listing.slug}/review"' in html and 'name="stars"' in html
    assert 'id="buy-form"' not in html
    ListingReview.objects.create(listing=listing, user=browser.user, stars=5)
    html = browser.get(f"/marketplace/{listing.slug}").content.decode()
    assert 'id="review-form"' not in html and "You reviewed this listing" in html


def test_a_test_mode_or_uninstalled_install_does_not_count_and_a_pending_order_shows():
    listing = listing_make(amount_minor=999)
    browser = signed_in()
    Installation.objects.create(user=browser.user, listing=listing, livemode=False)
    assert 'id="buy-form"' in browser.get(f"/marketplace/{listing.slug}").content.decode()
    Order.objects.create(listing=listing, partner=listing.partner, buyer=browser.user, amount_minor=999,
                         currency="usd", revenue_share="0.700")
    html = browser.get(f"/marketplace/{listing.slug}").content.decode()
    assert "Payment pending" in html and 'id="buy-form"' not in html
