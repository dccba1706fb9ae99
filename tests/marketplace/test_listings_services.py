"""The listing services: the policy's checks name each bad field, slugs stay unique, the status
machine with its audit trail, and the review decisions reaching the partner's webhook endpoint."""

import json

import pytest

from levqor.errors import AppError
from levqor.webhooks.endpoints import webhook_endpoint_create
from levqor.webhooks.models import WebhookDelivery
from marketplace.models import Listing, ListingReviewEvent
from marketplace.services.listings import listing_create, listing_delist, listing_relist, listing_review, listing_update
from partners.services.policy import policy_version_create
from partners.services.registry import partner_register
from partners.services.status import partner_status_change
from tests.factories import UserFactory
from tests.jobs.support import tasks_drain
from tests.marketplace.listings_support import listing_created, listing_fields
from tests.partners.governance_support import partner_make
from tests.webhook_receiver import received_verifies

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(operator):
    return operator.user


def refused(**changes) -> AppError:
    partner = partner_make()
    with pytest.raises(AppError) as caught:
        listing_create(partner=partner, actor=partner.owner, **listing_fields(**changes))
    assert caught.value.code == "validation_failed"
    assert not Listing.objects.exists()
    return caught.value


def test_a_new_listing_is_pending_review_with_a_secret_shown_once_and_a_trail_row():
    partner = partner_make()
    listing = listing_create(partner=partner, actor=partner.owner, **listing_fields())
    assert (listing.status, listing.amount_minor, listing.currency, listing.slug) == (
        "pending_review", 999, "usd", "text-summariser")
    assert listing.signing_secret_once.startswith("whsec_") and listing.signing_secret_once == listing.secret
    stored = Listing.objects.get(pk=listing.pk)
    assert stored.secret == listing.signing_secret_once and not hasattr(stored, "signing_secret_once")
    [event] = ListingReviewEvent.objects.filter(listing=listing)
    assert (event.from_status, event.to_status, event.actor) == ("", "pending_review", partner.owner)


@pytest.mark.parametrize("price, minor", [("0", 0), (0, 0), ("9.99", 999), (12.5, 1250), ("999.99", 99999),
                                          (" 5 ", 500)])
def test_prices_in_major_units_become_minor_units(price, minor):
    assert listing_created(price=price).amount_minor == minor


def test_amount_minor_is_taken_instead_of_price():
    assert listing_created(price=..., amount_minor=250).amount_minor == 250


@pytest.mark.parametrize("price", ["1000", "-1", "9.999", "NaN", "Infinity", "abc", "", True, [9], {"a": 1},
                                   float("nan")])
def test_a_price_out_of_range_or_no_number_is_refused_by_name(price):
    error = refused(price=price)
    assert [e["field"] for e in error.details["errors"]] == ["price"]


def test_the_range_message_names_the_policy():
    error = refused(price="1000.00")
    assert error.details["errors"][0]["message"] == "From 0.00 to 999.99 (governance policy v1)."


def test_the_policy_in_force_sets_the_range(staff):
    policy_version_create(actor=staff, reason="Cheaper modules only", listing_price_max_minor=5000)
    assert [e["field"] for e in refused(price="50.01").details["errors"]] == ["price"]
    assert listing_created(price="50").amount_minor == 5000


@pytest.mark.parametrize("changes, field", [
    ({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": 5}, "name"),
    ({"category": "games"}, "category"), ({"category": ...}, "category"),
    ({"currency": "dollars"}, "currency"), ({"currency": 840}, "currency"),
    ({"description": "x" * 5001}, "description"), ({"description": ["a"]}, "description"),
    ({"metadata": [1]}, "metadata"), ({"metadata": {"big": "x" * 17000}}, "metadata"),
    ({"input_schema": {"type": "banana"}}, "input_schema"), ({"input_schema": {"type": "string"}}, "input_schema"),
    ({"input_schema": "{}"}, "input_schema"), ({"input_schema": ...}, "input_schema"),
    ({"endpoint": "ftp://modules.acme.test/run"}, "endpoint"), ({"endpoint": "not a url"}, "endpoint"),
    ({"endpoint": ...}, "endpoint"), ({"endpoint": "https://modules.acme.test/admin/run"}, "endpoint"),
    ({"endpoint": "https://modules.acme.test/%2561dmin/run"}, "endpoint"),
    ({"price": ..., "amount_minor": "999"}, "amount_minor"), ({"amount_minor": 5}, "price"),
    ({"price": ...}, "price"),
])
def test_each_bad_field_is_refused_by_name(changes, field):
    assert [e["field"] for e in refused(**changes).details["errors"]] == [field]


def test_every_bad_field_is_named_at_once():
    error = refused(name="", category="x", price="-5", endpoint="nope")
    assert [e["field"] for e in error.details["errors"]] == ["category", "endpoint", "name", "price"]


def test_a_forbidden_path_names_the_policy_entry():
    error = refused(endpoint="https://modules.acme.test/internal/run")
    assert "/internal/" in error.details["errors"][0]["message"]


def test_https_is_required_when_the_policy_and_production_require_it(settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    error = refused(endpoint="http://modules.acme.test/run")
    assert error.details["errors"] == [{"field": "endpoint", "message": "The endpoint must use https."}]


def test_an_endpoint_reaching_a_private_address_is_refused(settings_outbound_strict):
    error = refused(endpoint="https://127.0.0.1/run")
    assert error.details["errors"][0]["field"] == "endpoint"


@pytest.mark.parametrize("status", ["pending_approval", "rejected", "suspended"])
def test_only_an_approved_partner_creates_listings(status):
    partner = partner_make(status=status)
    with pytest.raises(AppError) as caught:
        listing_create(partner=partner, actor=partner.owner, **listing_fields())
    assert caught.value.code == "partner_not_approved"


def test_someone_else_cannot_create_a_partners_listing():
    partner = partner_make()
    with pytest.raises(AppError) as caught:
        listing_create(partner=partner, actor=UserFactory(), **listing_fields())
    assert caught.value.code == "permission_denied"


def test_slugs_are_unique_with_a_suffix_on_a_clash():
    slugs = [listing_created(name="Text Summariser!").slug for _ in range(3)]
    assert slugs == ["text-summariser", "text-summariser-2", "text-summariser-3"]
    assert listing_created(name="Ünïcode ☃").slug == "unicode"
    assert listing_created(name="☃☃").slug == "module"
    assert len(listing_created(name="a" * 200).slug) == 50


def test_approving_publishes_audits_and_tells_the_partner_by_webhook(staff, fake_server, django_capture_on_commit_callbacks):
    listing = listing_created()
    endpoint = webhook_endpoint_create(owner=listing.partner.owner, url=fake_server.url + "/hook", audience="partner",
                                       event_types=["listing.approved", "listing.rejected"])
    with django_capture_on_commit_callbacks(execute=True):
        event = listing_review(listing=listing, actor=staff, action="approve", reason="")
    listing.refresh_from_db()
    assert listing.status == "published" and listing.published_at == event.at
    assert (event.actor, event.from_status, event.to_status, event.reason) == (staff, "pending_review", "published",
                                                                                "Approved")
    tasks_drain()
    [request] = fake_server.requests
    assert request["path"] == "/hook" and received_verifies(request, endpoint.secret)
    body = json.loads(request["body"])
    assert body["type"] == "listing.approved"
    assert body["data"]["listing_id"] == str(listing.pk) and body["data"]["workflow"] == f"partner.{listing.slug}"
    assert "endpoint" not in body["data"] and listing.secret not in request["body"].decode()


def test_rejecting_needs_a_reason_and_sends_it(staff, django_capture_on_commit_callbacks):
    listing = listing_created()
    webhook_endpoint_create(owner=listing.partner.owner, url="https://acme.test/hook", audience="partner",
                            event_types=["listing.rejected"])
    with pytest.raises(AppError) as caught:
        listing_review(listing=listing, actor=staff, action="reject", reason="  ")
    assert caught.value.details["errors"][0]["field"] == "reason"
    listing_review(listing=listing, actor=staff, action="reject", reason="The endpoint does not answer")
    listing.refresh_from_db()
    assert (listing.status, listing.status_reason) == ("rejected", "The endpoint does not answer")
    delivery = WebhookDelivery.objects.get(owner=listing.partner.owner)
    assert delivery.event_type == "listing.rejected" and "The endpoint does not answer" in delivery.body


def test_only_staff_review_and_only_what_is_pending(staff):
    listing = listing_created()
    with pytest.raises(AppError) as caught:
        listing_review(listing=listing, actor=listing.partner.owner, action="approve")
    assert caught.value.code == "permission_denied"
    listing_review(listing=listing, actor=staff, action="approve")
    for action in ("approve", "reject"):
        with pytest.raises(AppError) as caught:
            listing_review(listing=listing, actor=staff, action=action, reason="again")
        assert caught.value.code == "listing_transition_not_allowed"
    with pytest.raises(AppError) as caught:
        listing_review(listing=listing, actor=staff, action="publish")
    assert caught.value.code == "validation_failed"
    assert ListingReviewEvent.objects.filter(listing=listing).count() == 2


def test_changing_a_published_listings_price_endpoint_or_schema_sends_it_back_to_review(staff):
    listing = listing_created()
    listing_review(listing=listing, actor=staff, action="approve")
    changed = listing_update(listing=listing, actor=listing.partner.owner, name="Better name", description="New")
    assert (changed.status, changed.name, changed.slug) == ("published", "Better name", "text-summariser")
    for fields in ({"price": "19.99"}, {"endpoint": "https://modules.acme.test/v2"},
                   {"input_schema": {"type": "object"}}):
        Listing.objects.filter(pk=listing.pk).update(status="published")
        changed = listing_update(listing=listing, actor=listing.partner.owner, **fields)
        assert changed.status == "pending_review"
        event = ListingReviewEvent.objects.filter(listing=listing).first()
        assert (event.from_status, event.to_status, event.actor) == ("published", "pending_review",
                                                                     listing.partner.owner)
        assert next(iter(fields)).replace("price", "amount_minor") in event.reason


def test_an_update_is_checked_like_a_create_and_only_by_the_partner():
    listing = listing_created()
    with pytest.raises(AppError) as caught:
        listing_update(listing=listing, actor=listing.partner.owner, price="1000", slug="mine")
    assert caught.value.details["errors"][0]["field"] == "slug"
    with pytest.raises(AppError) as caught:
        listing_update(listing=listing, actor=listing.partner.owner, price="1000", category="nope")
    assert [e["field"] for e in caught.value.details["errors"]] == ["category", "price"]
    with pytest.raises(AppError) as caught:
        listing_update(listing=listing, actor=UserFactory(), name="Mine now")
    assert caught.value.code == "not_found"
    listing.refresh_from_db()
    assert listing.name == "Text Summariser" and listing.amount_minor == 999


def test_a_currency_change_rechecks_the_amount_in_the_new_currency():
    listing = listing_created(price="9.99")
    with pytest.raises(AppError) as caught:
        listing_update(listing=listing, actor=listing.partner.owner, currency="jpy", price="9.99")
    assert caught.value.details["errors"][0]["field"] == "price"  # yen has no decimals
    changed = listing_update(listing=listing, actor=listing.partner.owner, currency="EUR")
    assert (changed.currency, changed.amount_minor) == ("eur", 999)


def test_delist_by_the_partner_or_staff_and_relist_back_to_review(staff):
    listing = listing_created()
    listing_review(listing=listing, actor=staff, action="approve")
    event = listing_delist(listing=listing, actor=listing.partner.owner)
    assert (event.to_status, event.reason) == ("delisted", "Delisted by the partner")
    with pytest.raises(AppError) as caught:
        listing_delist(listing=listing, actor=listing.partner.owner)
    assert caught.value.code == "listing_transition_not_allowed"
    listing_relist(listing=listing, actor=listing.partner.owner)
    listing.refresh_from_db()
    assert listing.status == "pending_review"
    with pytest.raises(AppError) as caught:
        listing_delist(listing=listing, actor=staff, reason="")
    assert caught.value.details["errors"][0]["field"] == "reason"
    listing_delist(listing=listing, actor=staff, reason="Reported as spam")
    with pytest.raises(AppError) as caught:
        listing_delist(listing=listing_created(), actor=UserFactory())
    assert caught.value.code == "not_found"
    trail = list(ListingReviewEvent.objects.filter(listing=listing).order_by("at", "id")
                 .values_list("from_status", "to_status", "actor"))
    owner = listing.partner.owner.pk
    assert trail == [("", "pending_review", owner), ("pending_review", "published", staff.pk),
                     ("published", "delisted", owner), ("delisted", "pending_review", owner),
                     ("pending_review", "delisted", staff.pk)]


def test_the_endpoint_made_at_registration_gets_listing_events(staff, fake_server, django_capture_on_commit_callbacks):
    """A partner's webhook_url subscribes to every partner event, the listing ones included."""
    owner = UserFactory()
    partner = partner_register(owner=owner, name="Hooked", email="ops@hooked.test", webhook_url=fake_server.url + "/p")
    partner_status_change(partner=partner, action="approve", actor=staff, reason="OK")
    listing = listing_created(partner)
    with django_capture_on_commit_callbacks(execute=True):
        listing_review(listing=listing, actor=staff, action="reject", reason="Needs docs")
    tasks_drain()
    sent = [json.loads(r["body"]) for r in fake_server.requests]
    assert [(b["type"], b["data"].get("reason")) for b in sent if b["type"].startswith("listing.")] == [
        ("listing.rejected", "Needs docs")]
    assert received_verifies(fake_server.requests[-1], partner.webhook_endpoint.secret)
