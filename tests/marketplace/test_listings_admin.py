"""Listings in the admin: filters and search, approve / reject / delist through a page asking for
the reason (required to reject and delist), the trail read-only, the secret never shown."""

import pytest

from levqor.webhooks.endpoints import webhook_endpoint_create
from levqor.webhooks.models import WebhookDelivery
from marketplace.models import Listing, ListingReviewEvent
from tests.marketplace.listings_support import listing_created
from tests.marketplace.store_support import listing_make

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/marketplace/listing/"


def review_url(action, *listings):
    return f"{CHANGELIST}review/{action}/?ids={','.join(str(item.pk) for item in listings)}"


def names(response):
    return sorted(item.name for item in response.context["cl"].result_list)


def test_the_list_filters_by_status_and_category_and_searches(operator):
    pending = listing_created(name="Pending one")
    listing_make(name="Published template", category="template")
    assert names(operator.get(CHANGELIST + "?status__exact=pending_review")) == ["Pending one"]
    assert names(operator.get(CHANGELIST + "?category__exact=template")) == ["Published template"]
    assert names(operator.get(CHANGELIST + "?q=pending")) == ["Pending one"]
    assert names(operator.get(CHANGELIST + f"?q={pending.partner.name}")) == ["Pending one"]


def test_an_action_leads_to_the_reason_page(operator):
    listing = listing_created()
    response = operator.post(CHANGELIST, {"action": "reject", "_selected_action": [listing.pk]})
    assert response.status_code == 302 and response["Location"] == review_url("reject", listing)
    page = operator.get(response["Location"])
    assert page.status_code == 200 and listing.name in page.content.decode()


def test_approving_publishes_records_the_trail_and_queues_the_webhook(operator, django_capture_on_commit_callbacks):
    listing = listing_created()
    webhook_endpoint_create(owner=listing.partner.owner, url="https://acme.test/hook", audience="partner",
                            event_types=["listing.approved"])
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(review_url("approve", listing), {"ids": str(listing.pk), "reason": ""})
    assert response.status_code == 302
    listing.refresh_from_db()
    assert listing.status == "published" and listing.published_at
    event = ListingReviewEvent.objects.filter(listing=listing).first()
    assert (event.actor, event.to_status, event.reason) == (operator.user, "published", "Approved")
    assert WebhookDelivery.objects.get(owner=listing.partner.owner).event_type == "listing.approved"


@pytest.mark.parametrize("action, start, end", [("reject", "pending_review", "rejected"),
                                                ("delist", "published", "delisted")])
def test_reject_and_delist_need_a_reason(operator, action, start, end):
    listing = listing_created()
    Listing.objects.filter(pk=listing.pk).update(status=start)
    response = operator.post(review_url(action, listing), {"ids": str(listing.pk), "reason": "  "})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    listing.refresh_from_db()
    assert listing.status == start
    response = operator.post(review_url(action, listing), {"ids": str(listing.pk), "reason": "Broken endpoint"})
    assert response.status_code == 302
    listing.refresh_from_db()
    assert (listing.status, listing.status_reason) == (end, "Broken endpoint")


def test_a_transition_not_allowed_is_an_admin_message_not_a_500(operator):
    pending, published = listing_created(), listing_make()
    response = operator.post(review_url("approve", pending, published),
                             {"ids": f"{pending.pk},{published.pk}", "reason": ""}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200 and "Approved 1 listing." in html and "cannot be approved" in html


def test_the_change_page_shows_the_trail_read_only_and_never_the_secret(operator):
    listing = listing_created()
    response = operator.get(f"{CHANGELIST}{listing.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200 and "review trail" in html.lower() and "Created" in html
    assert listing.secret not in html and "whsec_" not in html
    assert 'id="listing-approve"' in html and 'id="listing-reject"' in html
    assert operator.get(f"{CHANGELIST}add/").status_code == 403


def test_no_selection_and_unknown_actions(operator):
    assert operator.get(f"{CHANGELIST}review/approve/?ids=nonsense").status_code == 302
    assert operator.get(f"{CHANGELIST}review/publish/?ids=").status_code == 403
