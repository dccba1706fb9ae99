"""The listings API: the old /api/marketplace/listings contract and /api/v1/marketplace/listings,
the public list's filters and their 400s, who may create and change what, the secret shown once."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from marketplace.models import Listing, ListingReviewEvent
from marketplace.services.listings import listing_review
from partners.services.credentials import credential_create
from tests.factories import UserFactory, api_key_for
from tests.marketplace.listings_support import listing_created, listing_fields
from tests.marketplace.store_support import listing_make
from tests.partners.governance_support import partner_make
from tests.partners.signed_support import signed_request

pytestmark = pytest.mark.django_db
V1, OLD = "/api/v1/marketplace/listings", "/api/marketplace/listings"


def keyed(user) -> APIClient:
    _, raw = api_key_for(user)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def partner():
    return partner_make()


@pytest.mark.parametrize("path", [V1, OLD])
def test_the_partner_owners_key_creates_a_listing_and_sees_the_secret_once(partner, path):
    client = keyed(partner.owner)
    response = post(client, path, {"partner_id": str(partner.pk), **listing_fields()})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["price"], body["amount_minor"], body["workflow"]) == (
        "pending_review", "9.99", 999, "partner.text-summariser")
    assert body["endpoint"] == "https://modules.acme.test/run" and body["partner"]["id"] == str(partner.pk)
    listing = Listing.objects.get(pk=body["id"])
    assert body["signing_secret"] == listing.secret and response["Cache-Control"] == "no-store"
    assert response["Location"] == f"/api/v1/marketplace/listings/{listing.pk}"
    again = client.get(f"{V1}/{listing.pk}").json()
    assert again["status"] == "pending_review" and "signing_secret" not in again
    assert listing.secret not in json.dumps(client.get(f"{V1}/mine").json())


def test_a_signed_partner_request_creates_a_listing(partner):
    created = credential_create(partner=partner, name="ci", actor=partner.owner)
    body = json.dumps(listing_fields(name="Signed module")).encode()
    response = signed_request(None, "POST", V1, key_id=created.credential.key_id, secret=created.secret, body=body)
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "signed-module"
    assert Listing.objects.get(slug="signed-module").partner == partner


def test_anonymous_cannot_create(partner):
    response = post(APIClient(), V1, listing_fields())
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"
    response = post(APIClient(), OLD, listing_fields())
    assert response.status_code == 401
    assert not Listing.objects.exists()


def test_another_partners_id_is_404_and_no_partner_is_refused(partner):
    other = partner_make(name="Other")
    response = post(keyed(partner.owner), OLD, {"partner_id": str(other.pk), **listing_fields()})
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    response = post(keyed(UserFactory()), V1, listing_fields())
    assert response.status_code == 403 and response.json()["error"] == "partner_not_approved"
    pending = partner_make(status="pending_approval", name="Pending")
    response = post(keyed(pending.owner), V1, listing_fields())
    assert response.status_code == 403 and response.json()["error"] == "partner_not_approved"
    assert not Listing.objects.exists()


def test_bad_fields_are_a_400_naming_them(partner):
    response = post(keyed(partner.owner), V1, listing_fields(price="1000", category="games", extra=1))
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed" and [e["field"] for e in body["details"]["errors"]] == ["extra"]
    response = post(keyed(partner.owner), V1, listing_fields(price="1000", category="games"))
    assert [e["field"] for e in response.json()["details"]["errors"]] == ["category", "price"]


def test_a_key_without_partners_write_cannot_create(partner):
    _, raw = api_key_for(partner.owner, scopes=["partners:read"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    response = post(client, V1, listing_fields())
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("path", [V1, OLD])
def test_the_public_list_shows_published_listings_of_approved_partners_by_downloads(path):
    top = listing_make(downloads=50)
    second = listing_make(downloads=7, amount_minor=999)
    listing_make(status="pending_review", downloads=99)
    listing_make(status="delisted", downloads=99)
    listing_make(partner=partner_make(status="suspended", name="Gone"), downloads=99)
    response = APIClient().get(path)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["data"]] == [str(top.pk), str(second.pk)]
    assert (body["total"], body["limit"], body["offset"]) == (2, 20, 0)
    item = body["data"][1]
    assert item["price"] == "9.99" and item["rating"] == {"average": None, "count": 0}
    assert "endpoint" not in item and "status" not in item and "signing_secret" not in item
    assert item["partner"]["verified"] is True


def test_filters_category_partner_verified_limit_offset():
    a = listing_make(category="template", downloads=3)
    b = listing_make(category="module", downloads=2, partner=a.partner)
    c = listing_make(category="module", downloads=1)
    client = APIClient()

    def ids(query):
        response = client.get(f"{V1}?{query}")
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["data"]]

    assert ids("category=module") == [str(b.pk), str(c.pk)]
    assert ids(f"partner={a.partner_id}") == [str(a.pk), str(b.pk)]
    assert ids("verified_only=true") == [str(a.pk), str(b.pk), str(c.pk)]
    assert ids("verified_only=false&limit=1&offset=1") == [str(b.pk)]
    assert ids("limit=100&offset=5") == []
    assert ids(f"partner={uuid.uuid4()}") == []


@pytest.mark.parametrize("query, field", [
    ("category=games", "category"), ("partner=not-a-uuid", "partner"), ("verified_only=yes", "verified_only"),
    ("limit=101", "limit"), ("limit=0", "limit"), ("limit=ten", "limit"), ("offset=-1", "offset"),
])
@pytest.mark.parametrize("path", [V1, OLD])
def test_a_bad_filter_is_a_400_naming_it(path, query, field):
    response = APIClient().get(f"{path}?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed" and [e["field"] for e in body["details"]["errors"]] == [field]


def test_the_list_costs_a_constant_number_of_queries(django_assert_max_num_queries):
    for _ in range(12):
        listing_make(partner=partner_make(name="Many"))
    with django_assert_max_num_queries(2):
        response = APIClient().get(f"{V1}?limit=100")
    assert len(response.json()["data"]) == 12


@pytest.mark.parametrize("path", [V1, OLD])
def test_one_listing_is_404_unless_published_except_to_its_partner(path):
    published, pending = listing_make(), listing_make(status="pending_review")
    client = APIClient()
    assert client.get(f"{path}/{published.pk}").json()["id"] == str(published.pk)
    response = client.get(f"{path}/{pending.pk}")
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert client.get(f"{path}/{uuid.uuid4()}").status_code == 404
    own = keyed(pending.partner.owner).get(f"{path}/{pending.pk}").json()
    assert own["status"] == "pending_review" and own["endpoint"] == pending.endpoint
    assert keyed(published.partner.owner).get(f"{path}/{pending.pk}").status_code == 404


def test_staff_see_any_listings_status_but_not_its_endpoint(operator):
    pending = listing_make(status="pending_review")
    body = operator.get(f"{V1}/{pending.pk}").json()
    assert body["status"] == "pending_review" and "endpoint" not in body


def test_the_partner_changes_its_listing_and_another_partner_cannot(operator):
    listing = listing_created()
    listing_review(listing=listing, actor=operator.user, action="approve")
    owner = keyed(listing.partner.owner)
    response = owner.patch(f"{V1}/{listing.pk}", data=json.dumps({"description": "Sharper"}),
                           content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "published"
    response = owner.patch(f"{V1}/{listing.pk}", data=json.dumps({"price": "19.99"}), content_type="application/json")
    assert response.json()["status"] == "pending_review" and response.json()["price"] == "19.99"
    other = keyed(partner_make(name="Rival").owner)
    response = other.patch(f"{V1}/{listing.pk}", data=json.dumps({"name": "Stolen"}), content_type="application/json")
    assert response.status_code == 404  # not published any more: nothing to confirm
    Listing.objects.filter(pk=listing.pk).update(status="published")
    response = other.patch(f"{V1}/{listing.pk}", data=json.dumps({"name": "Stolen"}), content_type="application/json")
    assert response.status_code == 403 and response.json()["error"] == "permission_denied"
    assert other.delete(f"{V1}/{listing.pk}").status_code == 403
    listing.refresh_from_db()
    assert listing.name == "Text Summariser" and listing.status == "published"


def test_the_partner_delists_and_relists():
    listing = listing_make()
    owner = keyed(listing.partner.owner)
    response = owner.delete(f"{V1}/{listing.pk}")
    assert response.status_code == 200 and response.json()["status"] == "delisted"
    assert APIClient().get(f"{V1}/{listing.pk}").status_code == 404
    response = owner.delete(f"{V1}/{listing.pk}")
    assert response.status_code == 409 and response.json()["error"] == "listing_transition_not_allowed"
    response = post(owner, f"{V1}/{listing.pk}/relist", {"reason": "Fixed"})
    assert response.status_code == 200 and response.json()["status"] == "pending_review"
    assert ListingReviewEvent.objects.filter(listing=listing, reason="Fixed").exists()


def test_staff_delist_with_a_reason(operator):
    listing = listing_make()
    response = operator.delete(f"{V1}/{listing.pk}", data=json.dumps({"reason": "Malware"}),
                               content_type="application/json")
    assert response.status_code == 200 and response.json()["status"] == "delisted"
    assert ListingReviewEvent.objects.get(listing=listing).actor == operator.user


def test_mine_lists_every_status_of_my_listings_only():
    partner = partner_make()
    mine = [listing_make(partner=partner, status=s) for s in ("published", "pending_review", "rejected")]
    listing_make()
    client = keyed(partner.owner)
    body = client.get(f"{V1}/mine").json()
    assert sorted(item["id"] for item in body["data"]) == sorted(str(item.pk) for item in mine)
    assert all("endpoint" in item and "status" in item for item in body["data"])
    assert [item["status"] for item in client.get(f"{V1}/mine?status=rejected").json()["data"]] == ["rejected"]
    assert client.get(f"{V1}/mine?status=gone").status_code == 400
    assert APIClient().get(f"{V1}/mine").status_code == 401
    assert keyed(UserFactory()).get(f"{V1}/mine").status_code == 403


def test_the_schema_documents_the_listing_paths():
    schema = APIClient().get("/api/v1/schema", HTTP_ACCEPT="application/json")
    paths = json.loads(schema.content)["paths"]
    assert {"/api/v1/marketplace/listings", "/api/v1/marketplace/listings/{listing_id}",
            "/api/v1/marketplace/listings/mine", "/api/marketplace/listings"} <= set(paths)


def test_the_partner_rotates_the_signing_secret_with_an_overlap():
    listing = listing_make()
    old = listing.secret
    owner = keyed(listing.partner.owner)
    response = post(owner, f"{V1}/{listing.pk}/rotate-secret", {"overlap_hours": 2})
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    body = response.json()
    listing.refresh_from_db()
    assert body["signing_secret"] == listing.secret != old and body["previous_secret_expires_at"]
    assert listing.valid_secrets() == [listing.secret, old]
    response = post(owner, f"{V1}/{listing.pk}/rotate-secret", {"overlap_hours": 500})
    assert response.status_code == 400 and response.json()["details"]["errors"][0]["field"] == "overlap_hours"
    other = keyed(partner_make(name="Rival").owner)
    assert post(other, f"{V1}/{listing.pk}/rotate-secret", {}).status_code == 403
    assert post(APIClient(), f"{V1}/{listing.pk}/rotate-secret", {}).status_code == 401
