"""The registry's API: the old /api/partners contract and /api/v1/partners, with auth on every
call (the old API had none), owner-or-staff visibility, and staff review."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from levqor.webhooks.models import WebhookEndpoint
from partners.models import Partner, PartnerReviewEvent
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db

BODY = {"name": "Acme Automations", "email": "partners@acme.example", "webhook_url": "https://hooks.acme.example/levqor",
        "metadata": {"website": "https://acme.example"}}


def apply(client, path="/api/partners/register", **changes):
    return post_json(client, path, {**BODY, **changes})


@pytest.fixture
def staff_api(db):
    """An operator's key: admin:read beside the partner scopes."""
    user, raw = api_key_for(scopes=["admin:read", "partners:read", "partners:write"])
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    client.user = user
    return client


def test_the_old_register_answers_201_pending_with_the_policys_default_share(api):
    response = apply(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending_approval" and body["revenue_share"] == 0.7
    assert {k: body[k] for k in ("name", "email", "webhook_url", "metadata")} == BODY
    assert set(body) == {"id", "name", "email", "webhook_url", "revenue_share", "metadata", "status", "status_reason",
                         "verified_at", "next_review_at", "rating_avg", "rating_count", "created_at",
                         "webhook_endpoint_id", "webhook_secret"}
    assert Partner.objects.get(pk=body["id"]).owner == api.user


def test_a_given_revenue_share_is_kept_as_a_number(api):
    assert apply(api, revenue_share=0.65).json()["revenue_share"] == 0.65


def test_no_auth_is_401_on_every_old_and_new_path(db):
    anonymous = APIClient()
    assert apply(anonymous).status_code == 401
    assert apply(anonymous, "/api/v1/partners").json()["error"] == "not_authenticated"
    for path in ("/api/partners", "/api/partners/00000000-0000-0000-0000-000000000000", "/api/v1/partners/me"):
        assert anonymous.get(path).status_code == 401


@pytest.mark.parametrize("changes, code, field", [
    ({"name": ""}, "validation_failed", "name"),
    ({"email": "nope"}, "validation_failed", "email"),
    ({"revenue_share": "abc"}, "validation_failed", "revenue_share"),
    ({"revenue_share": True}, "validation_failed", "revenue_share"),
    ({"revenue_share": 2}, "validation_failed", "revenue_share"),
    ({"metadata": [1, 2]}, "validation_failed", "metadata"),
    ({"colour": "red"}, "validation_failed", "colour"),
    ({"webhook_url": "ftp://hooks.acme.example/x"}, "invalid_webhook_url", "webhook_url"),
])
def test_every_bad_field_is_named_in_the_error_shape(api, changes, code, field):
    response = apply(api, **changes)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == code and body["correlation_id"]
    assert [e["field"] for e in body["details"]["errors"]] == [field]


def test_a_missing_field_and_a_body_that_is_no_object(api):
    body = post_json(api, "/api/partners/register", {"email": "a@b.example"}).json()
    assert [e["field"] for e in body["details"]["errors"]] == ["name", "webhook_url"]
    assert post_json(api, "/api/partners/register", [1]).json()["details"]["errors"][0]["field"] == "body"


def test_https_is_required_in_production(api, settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    response = apply(api, webhook_url="http://hooks.acme.example/levqor")
    assert response.status_code == 400 and response.json()["error"] == "invalid_webhook_url"


def test_a_second_partner_for_one_account_is_409(api):
    assert apply(api).status_code == 201
    response = apply(api, "/api/v1/partners")
    assert response.status_code == 409 and response.json()["error"] == "partner_exists"


def test_a_key_without_partners_write_cannot_register(client_for, db):
    _, raw = api_key_for(scopes=["jobs:read"])
    response = apply(client_for(raw))
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


def test_the_list_is_for_staff_only_filtered_and_paginated(api, client_for, staff_api, operator):
    mine = apply(api).json()
    _, other_raw = api_key_for()
    other = apply(client_for(other_raw)).json()
    assert api.get("/api/partners").status_code == 403  # a customer key has no admin:read
    listed = staff_api.get("/api/partners").json()
    assert {p["id"] for p in listed["results"]} == {mine["id"], other["id"]}
    Partner.objects.filter(pk=other["id"]).update(status="approved")
    approved = staff_api.get("/api/v1/partners?status=approved").json()["results"]
    assert [p["id"] for p in approved] == [other["id"]]
    first = staff_api.get("/api/v1/partners?limit=1").json()
    assert len(first["results"]) == 1 and first["next"]
    assert len(staff_api.get(first["next"]).json()["results"]) == 1
    assert staff_api.get("/api/partners?status=bogus").json()["error"] == "validation_failed"
    assert operator.get("/api/partners").status_code == 200  # a staff session
    session = APIClient()
    session.force_login(api.user)
    assert session.get("/api/partners").json()["error"] == "permission_denied"


def test_the_owner_gets_patches_and_soft_deletes_others_get_404(api, client_for):
    partner = apply(api).json()
    path = f"/api/partners/{partner['id']}"
    assert api.get(path).json()["id"] == partner["id"]
    _, other_raw = api_key_for()
    other = client_for(other_raw)
    assert other.get(path).status_code == 404
    assert other.patch(path, {"name": "Mine"}, format="json").status_code == 404
    assert other.delete(path).status_code == 404

    changed = api.patch(path, {"name": "Acme Ltd", "webhook_url": "https://new.acme.example/h"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Acme Ltd"
    refused = api.patch(path, {"revenue_share": 0.9}, format="json")
    assert refused.status_code == 403 and refused.json()["details"] == {"field": "revenue_share"}

    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404
    assert Partner.objects.get(pk=partner["id"]).deleted_at is not None  # soft
    assert api.get("/api/v1/partners/me").status_code == 404


def test_staff_may_change_the_revenue_share(api, staff_api):
    partner = apply(api).json()
    response = staff_api.patch(f"/api/v1/partners/{partner['id']}", {"revenue_share": 0.8}, format="json")
    assert response.status_code == 200 and response.json()["revenue_share"] == 0.8


def test_me_answers_the_callers_partner(api):
    assert api.get("/api/v1/partners/me").status_code == 404
    partner = apply(api, "/api/v1/partners").json()
    assert api.get("/api/v1/partners/me").json()["id"] == partner["id"]


def test_staff_review_through_the_api_and_the_trail_hides_the_reviewer_from_the_owner(api, staff_api):
    partner = apply(api).json()
    review = f"/api/v1/partners/{partner['id']}/review"
    assert post_json(api, review, {"action": "approve", "reason": "Self-approval"}).status_code == 403
    missing = post_json(staff_api, review, {"action": "approve", "reason": " "})
    assert missing.status_code == 400 and [e["field"] for e in missing.json()["details"]["errors"]] == ["reason"]
    approved = post_json(staff_api, review, {"action": "approve", "reason": "Checked the company"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["status_reason"] == "Checked the company"
    again = post_json(staff_api, review, {"action": "approve", "reason": "Twice"})
    assert again.status_code == 409 and again.json()["error"] == "partner_transition_not_allowed"

    trail = api.get(f"/api/v1/partners/{partner['id']}/review-events").json()["data"]
    assert [(e["to_status"], e["by"]) for e in trail] == [("approved", "staff"), ("pending_approval", "owner")]
    staff_trail = staff_api.get(f"/api/v1/partners/{partner['id']}/review-events").json()["data"]
    assert staff_trail[0]["by"] == staff_api.user.email
    assert PartnerReviewEvent.objects.filter(partner_id=partner["id"]).count() == 2


@pytest.mark.parametrize("path", ["/api/partners/register", "/api/v1/partners"])
def test_registering_shows_the_webhook_endpoints_secret_once(api, path):
    response = apply(api, path)
    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["webhook_endpoint_id"])
    assert (endpoint.url, endpoint.audience) == (BODY["webhook_url"], "partner")
    # The secret that signs the partner's events (partner.verified first among them): they can be verified.
    assert body["webhook_secret"].startswith("whsec_") and endpoint.signing_secrets() == [body["webhook_secret"]]
    again = api.get(f"/api/v1/partners/{body['id']}").json()
    assert "webhook_secret" not in again and body["webhook_secret"] not in str(again)


@pytest.mark.parametrize(("body", "fields"), [
    ({"action": ["approve"], "reason": "Checked"}, ["action"]),
    ({"action": {"approve": True}, "reason": "Checked"}, ["action"]),
    ({"action": "promote", "reason": "Checked"}, ["action"]),
    ({"action": "approve", "reason": ["Checked"]}, ["reason"]),
    ({"action": "approve"}, ["reason"]),
    ({"action": "approve", "reason": "Checked", "status": "approved"}, ["status"]),
    ([{"action": "approve"}], ["body"]),
])
def test_a_review_body_that_is_not_an_action_and_a_reason_is_validation_failed(api, staff_api, body, fields):
    partner = apply(api).json()
    response = post_json(staff_api, f"/api/v1/partners/{partner['id']}/review", body)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "validation_failed"
    assert [e["field"] for e in response.json()["details"]["errors"]] == fields
    assert Partner.objects.get(pk=partner["id"]).status == "pending_approval"



def test_a_staff_members_key_without_admin_read_is_no_operator_for_the_revenue_share(client_for):
    """Changing the share is an operator's act: staff by session, or a staff key holding admin:read.
    A staff member's ordinary key, on the partner they own, is refused as any owner is."""
    _, raw = api_key_for(UserFactory(is_staff=True))  # default scopes: no admin:read
    staff_key = client_for(raw)
    partner = apply(staff_key).json()
    refused = staff_key.patch(f"/api/v1/partners/{partner['id']}", {"revenue_share": 0.99}, format="json")
    assert refused.status_code == 403 and refused.json()["details"] == {"field": "revenue_share"}
    assert Partner.objects.get(pk=partner["id"]).revenue_share == Decimal("0.700")
