"""Who is an operator: a signed-in staff member, or a staff member's key holding admin:read
(accounts.permissions.request_is_operator). Nobody else, whatever scopes a key holds: a key with
admin:read whose owner lost the staff flag is refused by every operator API."""

import pytest
from django.test import Client

from accounts.models import DEFAULT_SCOPES
from partners.models import Partner
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for
from tests.partners.signed_support import partner_make

pytestmark = pytest.mark.django_db

ALL_SCOPES = [*DEFAULT_SCOPES, "admin:read"]


def _operator_apis(partner):
    """(method, path, body) of every API only operators may use."""
    return [
        ("get", "/api/v1/analytics", None),
        ("get", "/api/v1/flags", None),
        ("get", "/api/v1/intelligence/anomaly", None),
        ("get", "/api/v1/governance/risk", None),
        ("get", "/ops/stabilize", None),
        ("get", "/ops/autoscale", None),
        ("get", "/ops/autoscale/metrics", None),
        ("get", "/ops/autoscale/prometheus", None),
        ("get", "/api/v1/partners", None),
        ("get", "/api/partners", None),
        ("get", f"/api/v1/partners/{partner.pk}/reports", None),
        ("post", f"/api/v1/partners/{partner.pk}/review", {"action": "suspend", "reason": "mine now"}),
        ("post", f"/api/v1/partners/{partner.pk}/review-complete", {"reason": "reviewed myself"}),
    ]


def _call(client, method, path, body):
    if method == "post":
        return post_json(client, path, body)
    return client.get(path, HTTP_ACCEPT="application/json")


def test_a_key_with_admin_read_whose_owner_is_no_longer_staff_is_refused_everywhere(client_for):
    former, raw = api_key_for(scopes=ALL_SCOPES)  # made while staff
    other = partner_make()
    for method, path, body in _operator_apis(other):
        assert _call(client_for(raw), method, path, body).status_code in (200, 409), path  # an operator, for now
    Partner.objects.filter(pk=other.pk).update(status=Partner.Status.APPROVED)  # the review above suspended it
    former.is_staff = False
    former.save(update_fields=["is_staff"])
    for method, path, body in _operator_apis(other):
        assert_api_error(_call(client_for(raw), method, path, body), 403, "permission_denied")
    # Nor does it see or change what only an operator could: others' partners and users are not found.
    assert_api_error(client_for(raw).get(f"/api/v1/partners/{other.pk}"), 404, "not_found")
    assert_api_error(client_for(raw).delete(f"/api/v1/partners/{other.pk}"), 404, "not_found")
    assert_api_error(client_for(raw).get(f"/api/v1/users/{other.owner.pk}"), 404, "not_found")
    other.refresh_from_db()
    assert other.deleted_at is None and other.status == Partner.Status.APPROVED


def test_a_signed_in_member_who_is_not_staff_is_no_operator(client_for):
    member = UserFactory()
    own = partner_make(owner=member, status="pending_approval")
    browser = Client()
    browser.force_login(member)
    for method, path, body in _operator_apis(own):
        assert_api_error(_call(browser, method, path, body), 403, "permission_denied")
    approve = post_json(browser, f"/api/v1/partners/{own.pk}/review", {"action": "approve", "reason": "me"})
    assert_api_error(approve, 403, "permission_denied")
    own.refresh_from_db()
    assert own.status == Partner.Status.PENDING


def test_a_staff_members_key_acts_as_an_operator_only_with_admin_read(client_for):
    staff = UserFactory(is_staff=True)
    _, without = api_key_for(staff, scopes=list(DEFAULT_SCOPES))
    assert_api_error(client_for(without).get("/api/v1/partners"), 403, "insufficient_scope")
    _, with_it = api_key_for(staff, scopes=ALL_SCOPES)
    assert client_for(with_it).get("/api/v1/partners").status_code == 200


def test_review_actions_need_partners_write_beside_admin_read(client_for):
    partner = partner_make(status="pending_approval")
    _, read_only = api_key_for(scopes=["admin:read", "partners:read"])
    refused = post_json(client_for(read_only), f"/api/v1/partners/{partner.pk}/review",
                        {"action": "approve", "reason": "looks fine"})
    assert_api_error(refused, 403, "insufficient_scope")
    assert refused.json()["details"]["required_scope"] == "partners:write"
    _, writer = api_key_for(scopes=["admin:read", "partners:write"])
    approved = post_json(client_for(writer), f"/api/v1/partners/{partner.pk}/review",
                         {"action": "approve", "reason": "looks fine"})
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
