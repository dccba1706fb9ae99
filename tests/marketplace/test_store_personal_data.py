"""The marketplace's section of the personal data export and erasure: what a buyer bought,
installed and reviewed; erasure keeps the orders and the stars, not the words or the installs."""

import pytest

from accounts.personal_data import personal_data_erase, personal_data_export
from marketplace.models import Installation, ListingReview, Order
from marketplace.services.installs import listing_install
from tests.factories import UserFactory
from tests.marketplace.store_support import listing_make

pytestmark = pytest.mark.django_db


def _bought(user):
    listing = listing_make(amount_minor=999)
    order = Order.objects.create(listing=listing, partner=listing.partner, buyer=user, amount_minor=999, currency="usd",
                                 revenue_share="0.700", partner_share_minor=699, platform_fee_minor=300,
                                 status=Order.Status.COMPLETED, checkout_session_id="cs_test_1",
                                 checkout_url="https://checkout.stripe.com/c/pay/cs_test_1")
    listing_install(user=user, listing=listing, livemode=True, order=order)
    ListingReview.objects.create(listing=listing, user=user, stars=4, body="Saved me an afternoon.")
    return listing, order


def test_export_lists_orders_installs_and_reviews(django_capture_on_commit_callbacks):
    user = UserFactory()
    listing, order = _bought(user)
    section = personal_data_export(user=user)["marketplace"]
    assert [o["id"] for o in section["orders"]] == [str(order.pk)]
    assert section["orders"][0]["amount_minor"] == 999
    assert [i["listing"] for i in section["installations"]] == [listing.slug]
    assert section["reviews"] == [{"listing": listing.slug, "stars": 4, "body": "Saved me an afternoon.",
                                   "created_at": ListingReview.objects.get().created_at}]
    # Someone else's purchases are not in it.
    assert personal_data_export(user=UserFactory())["marketplace"] == {"orders": [], "installations": [], "reviews": []}


def test_erasure_keeps_the_sale_and_the_stars_but_not_the_words_or_the_installs(django_capture_on_commit_callbacks):
    user = UserFactory()
    listing, order = _bought(user)
    other = UserFactory()
    listing_install(user=other, listing=listing, livemode=True)
    with django_capture_on_commit_callbacks(execute=True):
        personal_data_erase(user=user, actor=user, ip=None)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED and order.amount_minor == 999 and order.checkout_url == ""
    review = ListingReview.objects.get(user=user)
    assert review.stars == 4 and review.body == ""
    assert not Installation.objects.filter(user=user, uninstalled_at__isnull=True).exists()
    assert Installation.objects.filter(user=other, uninstalled_at__isnull=True).exists()  # only the erased account's
