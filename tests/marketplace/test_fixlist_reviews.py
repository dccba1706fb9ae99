"""Reviews and downloads count real live buyers: a test-mode install neither reviews nor downloads,
a reinstall is no new download, one account's reviews of several listings of a partner are one
voice for the auto-suspend minimum, and a suspended or deleted partner's listing is not reviewed.
And a cached module workflow follows a new governance policy's timeout."""

import pytest

from levqor.errors import AppError
from marketplace.models import ListingReview
from marketplace.services.installs import listing_install, listing_uninstall
from marketplace.services.modules import listing_workflow
from marketplace.services.reviews import listing_review_create, listing_reviews_partner_totals
from partners.models import Partner
from partners.services.policy import policy_current, policy_version_create
from partners.services.registry import partner_delete
from partners.services.status import partner_status_change
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for
from tests.marketplace.store_support import csrf_post, listing_make, page_messages
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db


def test_a_test_mode_install_does_not_qualify_to_review():
    listing = listing_make()
    user = UserFactory()
    listing_install(user=user, listing=listing, livemode=False)
    with pytest.raises(AppError) as caught:
        listing_review_create(user=user, listing=listing, stars=1)
    assert caught.value.code == "not_a_buyer"
    assert not ListingReview.objects.exists()


def test_one_account_cannot_suspend_a_partner_with_three_listings(django_capture_on_commit_callbacks):
    partner = partner_make()
    listings = [listing_make(partner=partner) for _ in range(3)]
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for listing in listings:
            listing_install(user=user, listing=listing, livemode=True)
            listing_review_create(user=user, listing=listing, stars=1)
    partner.refresh_from_db()
    assert partner.status == Partner.Status.APPROVED
    assert partner.rating_count == 3  # the average still counts every review
    assert listing_reviews_partner_totals(partner.pk).user_ids == frozenset({user.pk})


def test_three_people_still_suspend(django_capture_on_commit_callbacks):
    partner = partner_make()
    listings = [listing_make(partner=partner) for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        for listing in listings:
            user = UserFactory()
            listing_install(user=user, listing=listing, livemode=True)
            listing_review_create(user=user, listing=listing, stars=1)
    partner.refresh_from_db()
    assert partner.status == Partner.Status.SUSPENDED
    assert "by 3 users" in partner.status_reason


def test_only_the_first_live_install_is_a_download():
    listing = listing_make()
    user = UserFactory()
    for _ in range(5):
        install, created = listing_install(user=user, listing=listing, livemode=True)
        assert created
        listing_uninstall(user=user, installation=install)
    listing_install(user=user, listing=listing, livemode=False)
    listing.refresh_from_db()
    assert listing.downloads == 1
    listing_install(user=UserFactory(), listing=listing, livemode=False)
    listing_install(user=UserFactory(), listing=listing, livemode=True)
    listing.refresh_from_db()
    assert listing.downloads == 2


def _reviewer(listing, client_for):
    user, raw = api_key_for()
    listing_install(user=user, listing=listing, livemode=True)
    return client_for(raw)


@pytest.mark.parametrize("gone", ["suspended", "deleted"])
def test_a_gone_partners_listing_is_not_reviewed_nor_its_reviews_listed(gone, client_for):
    listing = listing_make()
    api = _reviewer(listing, client_for)
    path = f"/api/v1/marketplace/listings/{listing.pk}/reviews"
    if gone == "suspended":
        partner_status_change(partner=listing.partner, action="suspend", actor=None, reason="test")
    else:
        partner_delete(partner=listing.partner, actor=listing.partner.owner, reason="test")
    assert post_json(api, path, {"stars": 5}).status_code == 404
    assert api.get(path).status_code == 404
    assert not ListingReview.objects.exists()


def test_the_review_form_refuses_a_suspended_partners_listing(browser):
    listing = listing_make()
    listing_install(user=browser.user, listing=listing, livemode=True)
    partner_status_change(partner=listing.partner, action="suspend", actor=None, reason="test")
    response = csrf_post(browser, f"/marketplace/{listing.slug}/review", {"stars": "5", "body": ""})
    assert response.status_code == 302
    assert "This listing is not available." in page_messages(response)
    assert not ListingReview.objects.exists()


def test_a_cached_workflow_follows_a_new_policy_timeout(operator):
    listing = listing_make()
    before = listing_workflow(listing)
    assert before.timeout_seconds == float(policy_current().webhook_timeout_seconds)
    new = policy_version_create(actor=operator.user, reason="slower partners",
                                webhook_timeout_seconds=policy_current().webhook_timeout_seconds + 3)
    after = listing_workflow(listing)
    assert after.timeout_seconds == float(new.webhook_timeout_seconds) != before.timeout_seconds
