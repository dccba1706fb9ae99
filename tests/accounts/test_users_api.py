"""The users API of the old service, now behind API keys: upsert by email, PATCH, lookups, who
may see whom, scopes and validation errors."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import DEFAULT_SCOPES, User
from tests.api_asserts import assert_api_error, error_fields
from tests.concurrency import run_together
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db

OPERATOR_SCOPES = [*DEFAULT_SCOPES, "admin:read"]
USER_FIELDS = {"id", "email", "name", "locale", "currency", "meta", "created_at", "updated_at",
               "terms_accepted_at", "terms_version", "terms_accepted_ip", "marketing_consent",
               "marketing_consent_at", "marketing_consent_ip", "marketing_double_opt_in",
               "marketing_double_opt_in_at"}


def patch_json(client, path, body):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def operator(client_for):
    user, raw = api_key_for(scopes=OPERATOR_SCOPES)
    client = client_for(raw)
    client.user = user
    return client


def test_upsert_of_my_own_email_updates_me_and_keeps_absent_fields(api):
    me = api.user
    User.objects.filter(pk=me.pk).update(meta={"plan": "free", "team": "a"}, locale="en-GB")
    response = post_json(api, "/api/v1/users/upsert",
                         {"email": f"  {me.email.upper()} ", "currency": "EUR", "meta": {"plan": "pro"}})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"updated", "user"} and body["updated"] is True
    user = body["user"]
    assert set(user) == USER_FIELDS
    assert user["id"] == str(me.pk) and user["email"] == me.email
    assert user["currency"] == "EUR" and user["name"] == me.name and user["locale"] == "en-GB"
    assert user["meta"] == {"plan": "pro", "team": "a"}  # shallow merge
    # Compliance fields belong to a later release: never made up, and no token of any kind.
    assert user["terms_accepted_at"] is None and user["marketing_consent"] is False
    assert user["marketing_double_opt_in"] is False and "marketing_double_opt_in_token" not in user
    assert User.objects.count() == 1


def test_operator_upsert_creates_once_then_updates_by_normalised_email(operator):
    first = post_json(operator, "/api/v1/users/upsert",
                      {"email": " New.Person@Example.COM ", "name": "New", "locale": "fr", "currency": "USD",
                       "meta": {"a": 1}})
    assert first.status_code == 201, first.json()
    assert first.json()["created"] is True
    created = first.json()["user"]
    assert created["email"] == "new.person@example.com"
    assert (created["name"], created["locale"], created["currency"], created["meta"]) == ("New", "fr", "USD", {"a": 1})

    again = post_json(operator, "/api/v1/users/upsert", {"email": "new.person@example.com", "meta": {"b": 2}})
    assert again.status_code == 200 and again.json()["updated"] is True
    assert again.json()["user"]["id"] == created["id"]
    assert again.json()["user"]["meta"] == {"a": 1, "b": 2} and again.json()["user"]["name"] == "New"
    assert User.objects.filter(email__iexact="new.person@example.com").count() == 1


def test_upsert_of_someone_elses_email_with_a_customer_key_is_refused(api):
    other = UserFactory()
    response = post_json(api, "/api/v1/users/upsert", {"email": other.email, "name": "Hijacked"})
    assert_api_error(response, 403, "permission_denied")
    response = post_json(api, "/api/v1/users/upsert", {"email": "brand-new@example.com"})
    assert_api_error(response, 403, "permission_denied")
    other.refresh_from_db()
    assert other.name != "Hijacked"
    assert not User.objects.filter(email="brand-new@example.com").exists()


@pytest.mark.parametrize("body, fields", [
    ({}, ["email"]),
    ({"email": "not-an-email"}, ["email"]),
    ({"email": "a@example.com", "currency": "JPY"}, ["currency"]),
    ({"email": "a@example.com", "meta": ["x"]}, ["meta"]),
    ({"email": "a@example.com", "locale": "not a locale!"}, ["locale"]),
    ({"email": "a@example.com", "marketing_double_opt_in_token": "x", "is_staff": True},
     ["is_staff", "marketing_double_opt_in_token"]),
])
def test_upsert_validation_names_each_bad_field(api, body, fields):
    response = post_json(api, "/api/v1/users/upsert", body)
    body = assert_api_error(response, 400, "validation_failed")
    assert error_fields(body) == fields
    assert all(item["message"] for item in body["details"]["errors"])


def test_upsert_refuses_a_body_that_is_not_an_object_or_not_json(api):
    body = assert_api_error(post_json(api, "/api/v1/users/upsert", ["a@example.com"]), 400, "validation_failed")
    assert error_fields(body) == ["body"]
    response = api.post("/api/v1/users/upsert", data="{nope", content_type="application/json")
    assert_api_error(response, 400, "invalid_json")


def test_patch_keeps_absent_fields_and_merges_meta(api):
    me = api.user
    User.objects.filter(pk=me.pk).update(meta={"keep": True, "plan": "free"}, currency="GBP")
    response = patch_json(api, f"/api/v1/users/{me.pk}", {"meta": {"plan": "pro", "seats": 3}, "locale": "de-DE"})
    assert response.status_code == 200, response.json()
    user = response.json()
    assert user["meta"] == {"keep": True, "plan": "pro", "seats": 3}
    assert user["locale"] == "de-DE" and user["currency"] == "GBP" and user["name"] == me.name
    stored = User.objects.get(pk=me.pk)
    assert stored.meta == user["meta"] and stored.locale == "de-DE"


def test_patch_validation_and_read_only_fields(api):
    me = api.user
    body = assert_api_error(patch_json(api, f"/api/v1/users/{me.pk}", {"currency": "XXX", "email": "x@example.com"}),
                            400, "validation_failed")
    assert error_fields(body) == ["currency", "email"]
    assert User.objects.get(pk=me.pk).email == me.email


def test_a_customer_key_sees_and_changes_only_its_own_user(api):
    other = UserFactory(name="Other")
    assert api.get(f"/api/v1/users/{api.user.pk}").json()["email"] == api.user.email
    # Someone else's id looks exactly like an id that does not exist.
    assert_api_error(api.get(f"/api/v1/users/{other.pk}"), 404, "not_found")
    assert_api_error(api.get(f"/api/v1/users/{uuid.uuid4()}"), 404, "not_found")
    assert_api_error(patch_json(api, f"/api/v1/users/{other.pk}", {"name": "Mine now"}), 404, "not_found")
    assert User.objects.get(pk=other.pk).name == "Other"
    assert api.get("/api/v1/users", {"email": api.user.email.upper()}).json()["id"] == str(api.user.pk)
    assert_api_error(api.get("/api/v1/users", {"email": other.email}), 404, "not_found")


def test_an_operator_key_reads_any_user_and_finds_them_by_email(operator):
    other = UserFactory()
    assert operator.get(f"/api/v1/users/{other.pk}").json()["id"] == str(other.pk)
    found = operator.get("/api/v1/users", {"email": f" {other.email.upper()} "})
    assert found.status_code == 200 and found.json()["id"] == str(other.pk)
    assert_api_error(operator.get("/api/v1/users", {"email": "nobody@example.com"}), 404, "not_found")
    body = assert_api_error(operator.get("/api/v1/users"), 400, "validation_failed")
    assert error_fields(body) == ["email"]


def test_scopes_are_enforced_per_method(client_for):
    user, read_only = api_key_for(scopes=["users:read"])
    client = client_for(read_only)
    assert client.get(f"/api/v1/users/{user.pk}").status_code == 200
    body = assert_api_error(post_json(client, "/api/v1/users/upsert", {"email": user.email}), 403, "insufficient_scope")
    assert body["details"]["required_scope"] == "users:write"
    assert_api_error(patch_json(client, f"/api/v1/users/{user.pk}", {"name": "x"}), 403, "insufficient_scope")

    _, jobs_only = api_key_for(user, scopes=["jobs:read", "jobs:write"])
    assert_api_error(client_for(jobs_only).get(f"/api/v1/users/{user.pk}"), 403, "insufficient_scope")


def test_no_key_or_a_bad_key_is_refused():
    anonymous = APIClient()
    assert_api_error(anonymous.get("/api/v1/users", {"email": "a@example.com"}), 401, "not_authenticated")
    anonymous.credentials(HTTP_X_API_KEY="lvk_live_" + "0" * 32)
    assert_api_error(anonymous.get("/api/v1/users", {"email": "a@example.com"}), 401, "invalid_api_key")


def test_a_signed_in_user_without_a_key_manages_their_own_record():
    user = UserFactory()
    client = APIClient()
    client.force_login(user)
    assert client.get(f"/api/v1/users/{user.pk}").json()["email"] == user.email
    assert_api_error(client.get(f"/api/v1/users/{UserFactory().pk}"), 404, "not_found")


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_upserts_of_one_email_make_one_user(client_for):
    _, raw = api_key_for(scopes=OPERATOR_SCOPES)
    statuses, errors = run_together(
        lambda: post_json(client_for(raw), "/api/v1/users/upsert", {"email": "Race@Example.com"}).status_code)
    assert not errors, errors
    assert sorted(statuses) == [200, 201]
    assert User.objects.filter(email__iexact="race@example.com").count() == 1
