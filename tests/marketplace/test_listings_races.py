"""Listings under concurrent requests (PostgreSQL: real races; SQLite serialises the writers):
two listings of one name get two slugs, two reviewers decide a listing once."""

import pytest

from marketplace.models import Listing, ListingReviewEvent
from marketplace.services.listings import listing_review
from tests.concurrency import run_together
from tests.factories import UserFactory
from tests.marketplace.listings_support import listing_created
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_listings_of_one_name_at_once_get_two_slugs(transactional_db):
    first, second = partner_make(name="One"), partner_make(name="Two")
    partners = iter([first, second])
    results, errors = run_together(lambda: listing_created(next(partners), name="Same Name"))
    assert errors == [] and len(results) == 2
    slugs = sorted(Listing.objects.values_list("slug", flat=True))
    # The loser of the race retries with a random suffix ("same-name-2" when the writers were serialised).
    assert len(set(slugs)) == 2 and slugs[0] == "same-name" and slugs[1].startswith("same-name-")


def test_two_reviewers_at_once_decide_a_listing_once(transactional_db):
    listing = listing_created()
    staff = UserFactory(is_staff=True)
    actions = iter(["approve", "reject"])
    results, errors = run_together(lambda: listing_review(listing=Listing.objects.get(pk=listing.pk), actor=staff,
                                                          action=next(actions), reason="Decided"))
    assert len(results) == 1 and [e.code for e in errors] == ["listing_transition_not_allowed"]
    assert ListingReviewEvent.objects.filter(listing=listing).exclude(from_status="").count() == 1

