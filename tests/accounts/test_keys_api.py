"""The keys API: an owner's keys only, metadata only, and never wider than the acting key."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import DEFAULT_SCOPES, ApiKey, User
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import ApiKeyFactory, UserFactory, api_key_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_key(client_for):
    owner = UserFactory()
    created = ApiKeyFactory(owner=owner, name="main")
    client = client_for(created.raw_key)
    client.owner, client.key, client.raw = owner, created, created.raw_key
    return client


def test_list_shows_my_keys_metadata_only(owner_key):
    second = ApiKeyFactory(owner=owner_key.owner, name="second", livemode=False)
    ApiKeyFactory(owner=UserFactory(), name="someone else's")
    response = owner_key.get("/api/v1/keys")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [k["id"] for k in results] == [str(second.pk), str(owner_key.key.pk)]
    text = response.content.decode()
    for key in (owner_key.key, second):
        assert key.key_hash not in text
    assert owner_key.raw not in text and second.raw_key not in text
    assert "key" not in results[0] and "key_hash" not in results[0]
    assert results[1]["name"] == "main" and results[1]["prefix"] == owner_key.raw[:13]


def test_create_shows_the_raw_key_once_and_it_works(owner_key, client_for):
    expires = (timezone.now() + timedelta(days=7)).replace(microsecond=0)
    response = post_json(owner_key, "/api/v1/keys", {"name": "ci", "scopes": ["jobs:read"],
                                                     "expires_at": expires.isoformat()})
    assert response.status_code == 201, response.content
    body = response.json()
    key = ApiKey.objects.get(pk=body["id"])
    assert (key.owner, key.name, key.scopes, key.livemode, key.expires_at) == (
        owner_key.owner, "ci", ["jobs:read"], True, expires)
    new = client_for(body["key"])
    assert new.get("/api/v1/jobs").status_code == 200
    assert_api_error(post_json(new, "/api/v1/jobs", {"workflow": "demo.flow", "payload": {}}), 403,
                     "insufficient_scope")
    assert body["key"] not in owner_key.get("/api/v1/keys").content.decode()


def test_create_defaults_to_the_usual_scopes_and_the_acting_keys_mode(owner_key, client_for):
    body = post_json(owner_key, "/api/v1/keys", {"name": "plain"}).json()
    assert body["scopes"] == list(DEFAULT_SCOPES) and body["livemode"] is True
    test_key = client_for(ApiKeyFactory(owner=owner_key.owner, livemode=False, scopes=["jobs:read"]).raw_key)
    body = post_json(test_key, "/api/v1/keys", {"name": "from a test key"}).json()
    assert body["livemode"] is False and body["scopes"] == ["jobs:read"]  # never wider than the acting key


def test_a_key_cannot_hand_out_scopes_it_lacks(owner_key, client_for):
    narrow = client_for(ApiKeyFactory(owner=owner_key.owner, scopes=["jobs:read"]).raw_key)
    body = assert_api_error(post_json(narrow, "/api/v1/keys", {"name": "x", "scopes": ["jobs:read", "jobs:write"]}),
                            403, "insufficient_scope")
    assert body["details"]["missing_scopes"] == ["jobs:write"]
    # ... nor get the raw successor of a wider key by rotating it.
    assert_api_error(post_json(narrow, f"/api/v1/keys/{owner_key.key.pk}/rotate", {}), 403, "insufficient_scope")
    assert ApiKey.objects.count() == 2


def test_a_test_key_cannot_make_or_rotate_live_keys(owner_key, client_for):
    test_key = client_for(ApiKeyFactory(owner=owner_key.owner, livemode=False).raw_key)
    assert_api_error(post_json(test_key, "/api/v1/keys", {"name": "x", "livemode": True}), 403, "permission_denied")
    assert_api_error(post_json(test_key, f"/api/v1/keys/{owner_key.key.pk}/rotate", {}), 403, "permission_denied")
    assert_api_error(post_json(test_key, f"/api/v1/keys/{owner_key.key.pk}/revoke", {}), 403, "permission_denied")
    assert ApiKey.objects.filter(livemode=True).count() == 1


@pytest.mark.parametrize(("body", "fields"), [
    ({}, ["name"]),
    ({"name": ""}, ["name"]),
    ({"name": "x" * 101}, ["name"]),
    ({"name": "x", "scopes": ["jobs:read", "root"]}, ["scopes[1]"]),
    ({"name": "x", "scopes": []}, ["scopes"]),
    ({"name": "x", "scopes": ["jobs:read", "jobs:read"]}, ["scopes"]),
    ({"name": "x", "scopes": "jobs:read"}, ["scopes"]),
    ({"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, ["expires_at"]),
    ({"name": "x", "expires_at": "tomorrow"}, ["expires_at"]),
    ({"name": "x", "scope": ["jobs:read"]}, ["scope"]),
    (["name"], ["body"]),
])
def test_bad_input_is_refused_naming_the_field(owner_key, body, fields):
    response = post_json(owner_key, "/api/v1/keys", body)
    found = assert_api_error(response, 400, "validation_failed")
    assert [e["field"] for e in found["details"]["errors"]] == fields
    assert ApiKey.objects.count() == 1


def test_another_owners_key_is_404_for_rotate_and_revoke(owner_key, client_for):
    stranger = ApiKeyFactory(owner=UserFactory())
    for action in ("rotate", "revoke"):
        body = assert_api_error(post_json(owner_key, f"/api/v1/keys/{stranger.pk}/{action}", {}), 404,
                                "not_found")
        assert body["details"]["key_id"] == str(stranger.pk)
    assert_api_error(post_json(owner_key, "/api/v1/keys/00000000-0000-0000-0000-000000000000/revoke", {}), 404,
                     "not_found")
    assert client_for(stranger.raw_key).get("/api/v1/jobs").status_code == 200  # untouched
    assert ApiKey.objects.count() == 2


def test_no_key_no_access(client):
    assert_api_error(client.get("/api/v1/keys", HTTP_ACCEPT="application/json"), 401, "not_authenticated")


def test_a_signed_in_owner_manages_their_keys_in_the_browsable_api():
    person = User.objects.create_user("me@example.com", "a-long-password-123")
    ApiKeyFactory(owner=person)
    browser = Client()
    browser.force_login(person)
    assert len(browser.get("/api/v1/keys", HTTP_ACCEPT="application/json").json()["results"]) == 1
    body = browser.post("/api/v1/keys", {"name": "ci", "scopes": ["jobs:read"]},
                        content_type="application/json", HTTP_ACCEPT="application/json").json()
    assert body["scopes"] == ["jobs:read"]


def test_only_staff_may_make_a_key_with_admin_read():
    person = User.objects.create_user("me@example.com", "a-long-password-123")
    browser = Client()
    browser.force_login(person)
    refused = browser.post("/api/v1/keys", {"name": "admin-ish", "scopes": ["admin:read"]},
                           content_type="application/json", HTTP_ACCEPT="application/json")
    assert_api_error(refused, 403, "permission_denied")
    assert refused.json()["details"] == {"field": "scopes", "scope": "admin:read"}
    assert not ApiKey.objects.filter(owner=person).exists()
    person.is_staff = True
    person.save(update_fields=["is_staff"])
    made = browser.post("/api/v1/keys", {"name": "admin-ish", "scopes": ["admin:read"]},
                        content_type="application/json", HTTP_ACCEPT="application/json")
    assert made.status_code == 201 and made.json()["scopes"] == ["admin:read"]


def test_a_key_with_admin_read_cannot_be_rotated_once_its_owner_is_no_longer_staff(client_for):
    owner, raw = api_key_for(scopes=["admin:read"])
    owner.is_staff = False
    owner.save(update_fields=["is_staff"])
    key = ApiKey.objects.get(owner=owner)
    assert_api_error(client_for(raw).post(f"/api/v1/keys/{key.pk}/rotate", {}, format="json"), 403,
                     "permission_denied")
    key.refresh_from_db()
    assert key.expires_at is None and ApiKey.objects.filter(owner=owner).count() == 1


def test_the_schema_describes_the_keys_api(client):
    schema = client.get("/public/openapi.json", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/keys"])
    create = paths["/api/v1/keys"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiKeyCreate")
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiKeyCreated")
    rotate = paths["/api/v1/keys/{key_id}/rotate"]["post"]
    assert rotate["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/ApiKeyRotated")
    assert {"201", "400", "403", "404", "409"} <= set(rotate["responses"])
    assert "404" in paths["/api/v1/keys/{key_id}/revoke"]["post"]["responses"]
    components = schema["components"]["schemas"]
    assert "key_hash" not in components["ApiKey"]["properties"] and "key" in components["ApiKeyCreated"]["properties"]
    assert set(components["ApiKeyCreate"]["properties"]) == {"name", "livemode", "scopes", "expires_at"}
    assert schema["components"]["securitySchemes"]["ApiKeyHeader"]["name"] == "X-Api-Key"
