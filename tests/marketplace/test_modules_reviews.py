"""Listing reviews: public and paginated; a buyer reviews once (stars 1..5, a text up to 2000
characters); the listing's rating follows, and the stars feed the partner's rating in governance:
enough bad reviews auto-suspend the partner, whose modules then stop being workflows."""

from decimal import Decimal

import pytest
from django.test import Client

from marketplace.models import ListingReview
from marketplace.services.installs import listing_install
from partners.models import Partner
from partners.services.ratings import partner_rate
from tests.api_asserts import assert_api_error, error_fields
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for
from tests.marketplace.store_support import csrf_post, listing_make, page_messages

pytestmark = pytest.mark.django_db


def reviews_path(listing) -> str:
    return f"/api/v1/marketplace/listings/{listing.pk}/reviews"


def buyer_api(listing, client_for, *, uninstalled=False):
    user, raw = api_key_for()
    install, _ = listing_install(user=user, listing=listing, livemode=True)
    if uninstalled:
        install.uninstalled_at = install.created_at
        install.save(update_fields=["uninstalled_at"])
    api = client_for(raw)
    api.user = user
    return api


def test_a_buyer_reviews_once_and_the_listing_rating_follows(client_for, django_capture_on_commit_callbacks):
    listing = listing_make()
    first = buyer_api(listing, client_for)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_json(first, reviews_path(listing), {"stars": 5, "body": "  Saves me an hour a day.  "})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["review"]["stars"] == 5 and body["review"]["body"] == "Saves me an hour a day."
    assert body["listing"] == {"rating_avg": "5.00", "rating_count": 1}
    assert_api_error(post_json(first, reviews_path(listing), {"stars": 1}), 409, "already_reviewed")

    # A buyer who uninstalled since may review too.
    second = buyer_api(listing, client_for, uninstalled=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(second, reviews_path(listing), {"stars": 4}).json()["listing"] == {
            "rating_avg": "4.50", "rating_count": 2}
    listing.refresh_from_db()
    assert (listing.rating_avg, listing.rating_count) == (Decimal("4.50"), 2)
    assert ListingReview.objects.filter(listing=listing).count() == 2


def test_only_buyers_review(client_for, api):
    listing = listing_make()
    assert_api_error(post_json(api, reviews_path(listing), {"stars": 5}), 403, "not_a_buyer")
    # The partner's owner neither, even having installed its own listing.
    _, owner_raw = api_key_for(listing.partner.owner)
    owner_api = client_for(owner_raw)
    listing_install(user=listing.partner.owner, listing=listing, livemode=True)
    assert_api_error(post_json(owner_api, reviews_path(listing), {"stars": 5}), 403, "permission_denied")
    assert_api_error(post_json(Client(), reviews_path(listing), {"stars": 5}), 401, "not_authenticated")
    assert not ListingReview.objects.exists()


@pytest.mark.parametrize("body, field", [
    ({"stars": 0}, "stars"), ({"stars": 6}, "stars"), ({"stars": "five"}, "stars"), ({}, "stars"),
    ({"stars": 3, "body": "x" * 2001}, "body"), ({"stars": 3, "extra": 1}, "extra"),
])
def test_bad_reviews_are_400s_naming_the_field(body, field, client_for):
    listing = listing_make()
    buyer = buyer_api(listing, client_for)
    response = assert_api_error(post_json(buyer, reviews_path(listing), body), 400, "validation_failed")
    assert field in error_fields(response)
    assert not ListingReview.objects.exists()


def test_reviews_are_public_newest_first_and_paginated(client_for, django_capture_on_commit_callbacks):
    listing = listing_make()
    with django_capture_on_commit_callbacks(execute=True):
        for stars in (3, 4, 5):
            assert post_json(buyer_api(listing, client_for), reviews_path(listing), {"stars": stars}).status_code == 201
    page = Client().get(reviews_path(listing), {"limit": 2}).json()
    assert [r["stars"] for r in page["results"]] == [5, 4] and set(page["results"][0]) == {
        "id", "stars", "body", "created_at"}
    assert [r["stars"] for r in Client().get(page["next"]).json()["results"]] == [3]
    unpublished = listing_make(status="pending_review")
    assert_api_error(Client().get(reviews_path(unpublished)), 404, "not_found")
    assert_api_error(Client().get("/api/v1/marketplace/listings/not-a-uuid/reviews"), 404, "not_found")


def test_listing_reviews_count_in_the_partners_rating(client_for, django_capture_on_commit_callbacks):
    listing = listing_make()
    partner = listing.partner
    with django_capture_on_commit_callbacks(execute=True):
        partner_rate(partner=partner, user=UserFactory(), stars=5)
        post_json(buyer_api(listing, client_for), reviews_path(listing), {"stars": 2})
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (Decimal("3.50"), 2)
    # The partner's own ratings recompute with the reviews counted too.
    with django_capture_on_commit_callbacks(execute=True):
        partner_rate(partner=partner, user=UserFactory(), stars=4)
    partner.refresh_from_db()
    assert (partner.rating_avg, partner.rating_count) == (Decimal("3.67"), 3)


def test_three_one_star_reviews_suspend_the_partner_and_its_modules_go(client_for, django_capture_on_commit_callbacks):
    listing = listing_make(slug="bad-module")
    buyers = [buyer_api(listing, client_for) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        for buyer in buyers[:2]:
            assert post_json(buyer, reviews_path(listing), {"stars": 1}).status_code == 201
    listing.partner.refresh_from_db()
    assert listing.partner.status == Partner.Status.APPROVED, "two ratings are too few to suspend"
    assert "partner.bad-module" in [w["name"] for w in buyers[0].get("/api/v1/workflows").json()["data"]]

    with django_capture_on_commit_callbacks(execute=True):
        assert post_json(buyers[2], reviews_path(listing), {"stars": 1}).status_code == 201
    partner = Partner.objects.get(pk=listing.partner_id)
    assert partner.status == Partner.Status.SUSPENDED
    assert "suspend_rating_below" in partner.status_reason and "1.00 from 3" in partner.status_reason
    for buyer in buyers:
        assert "partner.bad-module" not in [w["name"] for w in buyer.get("/api/v1/workflows").json()["data"]]
        assert buyer.get("/api/v1/marketplace/installs").json()["results"] == []


def test_the_review_form(browser, django_capture_on_commit_callbacks):
    listing = listing_make(slug="form-review")
    path = "/marketplace/form-review/review"
    assert Client().post(path, {"stars": 5})["Location"].startswith("/login")
    response = csrf_post(browser, path, {"stars": "5"})
    assert response["Location"] == "/marketplace/form-review"
    assert page_messages(response) == ["Only an account that installed this listing may review it."]

    listing_install(user=browser.user, listing=listing, livemode=True)
    assert page_messages(csrf_post(browser, path, {"stars": "many"})) == ["Choose 1 to 5 stars."]
    assert "1 to 5" in page_messages(csrf_post(browser, path, {"stars": "9"}))[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(browser, path, {"stars": "4", "body": "Good."})
    assert response["Location"] == "/marketplace/form-review"
    assert page_messages(response) == ["Thank you: your review is published."]
    review = ListingReview.objects.get(listing=listing)
    assert (review.user_id, review.stars, review.body) == (browser.user.pk, 4, "Good.")
    assert page_messages(csrf_post(browser, path, {"stars": "2"})) == ["You have reviewed this listing already."]
    missing = csrf_post(browser, "/marketplace/no-such-listing/review", {"stars": "2"})
    assert missing["Location"] == "/marketplace"


# --- at the same time ----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_buyers_two_reviews_at_once_leave_one_and_a_409():
    from marketplace.services.reviews import listing_review_create
    from tests.concurrency import run_together

    listing = listing_make()
    buyer = UserFactory()
    listing_install(user=buyer, listing=listing, livemode=True)
    stars = iter([2, 5])

    def review():
        return listing_review_create(user=buyer, listing=listing, stars=next(stars))

    results, errors = run_together(review)
    assert len(results) == 1 and [getattr(e, "code", e) for e in errors] == ["already_reviewed"]
    listing.refresh_from_db()
    assert listing.rating_count == 1 and listing.rating_avg == results[0].stars


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reviews_of_many_buyers_at_once_all_count_for_the_listing_and_the_partner():
    from marketplace.services.reviews import listing_review_create
    from tests.concurrency import run_together

    listing = listing_make()
    buyers = [UserFactory() for _ in range(4)]
    for buyer in buyers:
        listing_install(user=buyer, listing=listing, livemode=True)
    queue = iter(zip(buyers, [2, 3, 4, 5], strict=True))

    def review():
        buyer, stars = next(queue)
        return listing_review_create(user=buyer, listing=listing, stars=stars)

    results, errors = run_together(review, threads=4)
    assert not errors, errors
    listing.refresh_from_db()
    partner = Partner.objects.get(pk=listing.partner_id)
    assert (listing.rating_avg, listing.rating_count) == (Decimal("3.50"), 4)
    assert (partner.rating_avg, partner.rating_count) == (Decimal("3.50"), 4)


def test_the_listing_page_shows_the_review_and_the_message_after_the_form(browser, django_capture_on_commit_callbacks):
    listing = listing_make(slug="page-review")
    listing_install(user=browser.user, listing=listing, livemode=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = csrf_post(browser, "/marketplace/page-review/review", {"stars": "5", "body": "Works well."})
    page = browser.get(response["Location"]).content.decode()
    assert "Thank you: your review is published." in page and "Works well." in page
    assert 'id="review-form"' not in page
