"""Staff decide what they saw: the admin review page shows the listing's input schema (escaped) and
carries each listing's updated_at; a listing the partner changed since is not approved (409
listing_transition_not_allowed, changed_since) and the admin says to look again."""

from datetime import timedelta

import pytest

from levqor.errors import AppError
from marketplace.models import Listing
from marketplace.services.listings import listing_review, listing_update
from tests.marketplace.listings_support import listing_created

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/marketplace/listing/"


def review_url(action, *listings):
    return f"{CHANGELIST}review/{action}/?ids={','.join(str(item.pk) for item in listings)}"


def test_the_review_page_shows_the_schema_escaped_and_what_was_seen(operator):
    listing = listing_created(input_schema={"type": "object", "description": "<script>alert(1)</script>",
                                            "properties": {"text": {"type": "string"}}})
    html = operator.get(review_url("approve", listing)).content.decode()
    assert f'id="listing-schema-{listing.pk}"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert f'name="seen_{listing.pk}" value="{listing.updated_at.isoformat()}"' in html


def test_a_listing_changed_since_the_page_was_opened_is_not_approved(operator):
    listing = listing_created()
    seen = listing.updated_at.isoformat()
    listing_update(listing=listing, actor=listing.partner.owner, endpoint="https://modules.acme.test/other")
    response = operator.post(review_url("approve", listing),
                             {"ids": str(listing.pk), "reason": "", f"seen_{listing.pk}": seen}, follow=True)
    assert response.status_code == 200
    assert "changed since you opened it; look again" in response.content.decode()
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PENDING_REVIEW


def test_an_unchanged_listing_is_approved(operator):
    listing = listing_created()
    response = operator.post(review_url("approve", listing),
                             {"ids": str(listing.pk), "reason": "", f"seen_{listing.pk}": listing.updated_at.isoformat()})
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED


def test_the_service_refuses_a_stale_expected_updated_at(operator):
    listing = listing_created()
    stale = listing.updated_at - timedelta(seconds=1)
    with pytest.raises(AppError) as caught:
        listing_review(listing=listing, actor=operator.user, action="approve", expected_updated_at=stale)
    assert caught.value.code == "listing_transition_not_allowed" and caught.value.details["changed_since"]
    assert caught.value.status == 409
    listing_review(listing=listing, actor=operator.user, action="approve", expected_updated_at=listing.updated_at)
    listing.refresh_from_db()
    assert listing.status == Listing.Status.PUBLISHED
