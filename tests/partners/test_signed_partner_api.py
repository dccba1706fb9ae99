"""What a partner does with its credential (signed requests only, an approved partner, its own
things only): change its record, read its review trail, list and replay its webhook deliveries."""

import json

import pytest
from django.test import Client

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from partners.models import Partner
from partners.services.status import partner_status_change
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for
from tests.partners.signed_support import credential_make, partner_make, signed_request

pytestmark = pytest.mark.django_db

ME = "/api/v1/partner/me"
EVENTS = "/api/v1/partner/review-events"
DELIVERIES = "/api/v1/partner/deliveries"


@pytest.fixture
def signer():
    return credential_make()


def call(signer, method, path, *, body=None, query=""):
    credential, secret = signer
    raw = json.dumps(body).encode() if body is not None else b""
    return signed_request(None, method, path, key_id=credential.key_id, secret=secret, body=raw, query=query)


def _endpoint(owner, audience="partner", url="https://hooks.acme.test/levqor"):
    return WebhookEndpoint.objects.create(owner=owner, audience=audience, url=url, event_types=["partner.verified"])


def _delivery(endpoint, *, status="failed", event_type="partner.verified", msg="1"):
    return WebhookDelivery.objects.create(
        owner=endpoint.owner, endpoint=endpoint, url=endpoint.url, event_type=event_type, msg_id=f"msg_{msg}",
        body="{}", status=status, attempts=8, last_status_code=500)


def test_a_partner_changes_its_record_with_a_signed_patch(signer):
    credential, _ = signer
    response = call(signer, "PATCH", ME, body={"name": "Acme Two", "email": "new@acme.test",
                                               "metadata": {"tier": "gold"}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["email"], body["metadata"]) == ("Acme Two", "new@acme.test", {"tier": "gold"})
    partner = Partner.objects.get(pk=credential.partner_id)
    assert (partner.name, partner.email) == ("Acme Two", "new@acme.test")


def test_a_signed_patch_moves_the_webhook_url_and_its_endpoint(signer):
    credential, _ = signer
    endpoint = _endpoint(credential.partner.owner, url=credential.partner.webhook_url)
    response = call(signer, "PATCH", ME, body={"webhook_url": "https://hooks.acme.example/v2"})
    assert response.status_code == 200, response.content
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.acme.example/v2"


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"revenue_share": 0.9}, "validation_failed", "revenue_share"),  # staff only: not a field of this API
    ({"status": "approved"}, "validation_failed", "status"),
    ({"email": "nope"}, "validation_failed", "email"),
    ({"webhook_url": "ftp://x"}, "invalid_webhook_url", "webhook_url"),
])
def test_a_signed_patch_refuses_what_a_partner_may_not_change(signer, body, code, field):
    credential, _ = signer
    response = call(signer, "PATCH", ME, body=body)
    assert_api_error(response, 400, code)
    assert [e["field"] for e in response.json()["details"]["errors"]] == [field]
    partner = Partner.objects.get(pk=credential.partner_id)
    assert (partner.status, str(partner.revenue_share), partner.email) == ("approved", "0.700", "ops@acme.test")


def test_a_partner_reads_its_review_trail_without_the_reviewer(signer, operator):
    credential, _ = signer
    partner = credential.partner
    partner_status_change(partner=partner, action="suspend", actor=operator.user, reason="Chargebacks")
    partner_status_change(partner=partner, action="reinstate", actor=operator.user, reason="Settled")
    response = call(signer, "GET", EVENTS)
    assert response.status_code == 200, response.content
    trail = response.json()["data"]
    assert [(e["from_status"], e["to_status"], e["reason"], e["by"]) for e in trail] == [
        ("suspended", "approved", "Settled", "staff"), ("approved", "suspended", "Chargebacks", "staff")]
    assert operator.user.email not in response.content.decode()


def test_a_partner_lists_its_own_partner_deliveries_with_status_and_attempts(signer):
    credential, _ = signer
    own = _endpoint(credential.partner.owner)
    failed = _delivery(own, msg="a")
    delivered = _delivery(own, status="delivered", msg="b")
    _delivery(_endpoint(credential.partner.owner, audience="account"), msg="c")  # the account's, not the partner's
    other, _ = credential_make(partner_make(owner=UserFactory(), name="Other"))
    _delivery(_endpoint(other.partner.owner), msg="d")
    response = call(signer, "GET", DELIVERIES)
    assert response.status_code == 200, response.content
    rows = response.json()["results"]
    assert {r["id"] for r in rows} == {str(failed.pk), str(delivered.pk)}
    row = next(r for r in rows if r["id"] == str(failed.pk))
    assert (row["status"], row["attempts"], row["last_status_code"], row["event_type"]) == (
        "failed", 8, 500, "partner.verified")
    only_failed = call(signer, "GET", DELIVERIES, query="status=failed").json()["results"]
    assert [r["id"] for r in only_failed] == [str(failed.pk)]
    assert_api_error(call(signer, "GET", DELIVERIES, query="status=lost"), 400, "validation_failed")


def test_a_partner_replays_its_own_delivery_and_no_one_elses(signer):
    credential, _ = signer
    own = _delivery(_endpoint(credential.partner.owner), msg="a")
    response = call(signer, "POST", f"{DELIVERIES}/{own.pk}/replay")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["replays"]) == ("pending", 1)
    own.refresh_from_db()
    assert (own.status, own.replays, own.msg_id) == ("pending", 1, "msg_a")
    account = _delivery(_endpoint(credential.partner.owner, audience="account"), msg="b")
    other, _ = credential_make(partner_make(owner=UserFactory(), name="Other"))
    others = _delivery(_endpoint(other.partner.owner), msg="c")
    for delivery in (account, others):
        assert_api_error(call(signer, "POST", f"{DELIVERIES}/{delivery.pk}/replay"), 404, "not_found")
        delivery.refresh_from_db()
        assert (delivery.status, delivery.replays) == ("failed", 0)


def test_a_replay_to_a_disabled_endpoint_is_refused(signer):
    credential, _ = signer
    endpoint = _endpoint(credential.partner.owner)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    delivery = _delivery(endpoint)
    assert_api_error(call(signer, "POST", f"{DELIVERIES}/{delivery.pk}/replay"), 409, "endpoint_disabled")


def test_a_partner_that_is_not_approved_is_refused_everywhere(signer):
    credential, _ = signer
    delivery = _delivery(_endpoint(credential.partner.owner))
    partner_status_change(partner=credential.partner, action="suspend", actor=None, reason="Chargebacks")
    for method, path, body in [("GET", EVENTS, None), ("GET", DELIVERIES, None), ("PATCH", ME, {"name": "X"}),
                               ("POST", f"{DELIVERIES}/{delivery.pk}/replay", None)]:
        assert_api_error(call(signer, method, path, body=body), 403, "partner_not_approved")
    assert Partner.objects.get(pk=credential.partner_id).name == "Acme"


def test_only_signed_requests_reach_the_partner_api(signer, client_for):
    credential, _ = signer
    owner = credential.partner.owner
    _, raw = api_key_for(owner)
    browser = Client()
    browser.force_login(owner)
    delivery = _delivery(_endpoint(owner))
    for client in (client_for(raw), browser):
        for method, path in [("get", EVENTS), ("get", DELIVERIES), ("patch", ME),
                             ("post", f"{DELIVERIES}/{delivery.pk}/replay")]:
            response = getattr(client, method)(path, data={"name": "X"} if method == "patch" else None,
                                               content_type="application/json")
            assert_api_error(response, 401, "signature_invalid")
    assert Partner.objects.get(pk=credential.partner_id).name == "Acme"
    assert WebhookDelivery.objects.get(pk=delivery.pk).replays == 0


def test_a_tampered_body_is_refused(signer):
    credential, secret = signer
    response = signed_request(None, "PATCH", ME, key_id=credential.key_id, secret=secret,
                              body=b'{"name": "Evil"}', sign_as={"body": b'{"name": "Acme"}'})
    assert_api_error(response, 401, "signature_invalid")
    assert Partner.objects.get(pk=credential.partner_id).name == "Acme"
