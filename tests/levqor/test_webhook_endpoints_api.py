"""The webhooks API: endpoints (validated URL and event types, secret shown once), rotation,
enable, deliveries with attempts, replay one and replay all failed, the account signing secret,
scopes, and owner checks (another account's object is 404)."""

from datetime import timedelta

import pytest
import standardwebhooks
from django.utils import timezone

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.services import webhook_event_emit, webhook_send
from levqor.webhooks.tasks import webhook_deliver
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhooks"


def _create(api, url, types=("job.completed",), **extra):
    return post_json(api, f"{BASE}/endpoints", {"url": url, "event_types": list(types), **extra})


def _emit(owner, key="k"):
    return webhook_event_emit(owner=owner, audience="account", event_type="job.completed", data={"x": 1}, key=key)


def test_an_endpoint_is_created_with_its_secret_shown_once(api, fake_server):
    response = _create(api, fake_server.url + "/hook", description="prod")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["event_types"] == ["job.completed"] and body["audience"] == "account"
    assert response["Location"] == f"{BASE}/endpoints/{body['id']}"
    # Never again: not in the list, not in the detail.
    listed = api.get(f"{BASE}/endpoints").json()["data"]
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    detail = api.get(f"{BASE}/endpoints/{body['id']}").json()
    assert "secret" not in detail and body["secret"] not in str(detail)


@pytest.mark.parametrize(("body", "code"), [
    ({"url": "ftp://example.com/x", "event_types": ["job.completed"]}, "invalid_webhook_url"),
    ({"url": "javascript:alert(1)", "event_types": ["job.completed"]}, "invalid_webhook_url"),
    ({"url": "https://example.com/x", "event_types": ["job.completed", "no.such", "partner.verified"]},
     "unknown_event_type"),
    ({"url": "https://example.com/x", "event_types": []}, "validation_failed"),
    ({"url": "https://example.com/x"}, "validation_failed"),
    ({"url": "https://example.com/x", "event_types": ["job.completed"], "secret": "mine"}, "validation_failed"),
])
def test_bad_endpoints_are_refused_with_a_clear_error(api, body, code):
    response = post_json(api, f"{BASE}/endpoints", body)
    assert_api_error(response, 400, code)
    if code == "unknown_event_type":
        assert response.json()["details"]["unknown"] == ["no.such", "partner.verified"]
    assert not WebhookEndpoint.objects.exists()


def test_a_private_url_is_refused_by_the_ssrf_guard(api, settings_outbound_strict):
    assert_api_error(_create(api, "http://169.254.169.254/latest"), 400, "invalid_webhook_url")


def test_https_is_required_in_production(api, fake_server, settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    response = _create(api, fake_server.url + "/hook")
    assert_api_error(response, 400, "invalid_webhook_url")
    assert "https" in response.json()["message"]


def test_partner_endpoints_need_a_partner(api):
    assert_api_error(_create(api, "https://example.com/x", types=["partner.verified"], audience="partner"), 403,
                     "permission_denied")


def test_update_rotate_enable_and_delete(api, fake_server, clock):
    endpoint_id = _create(api, fake_server.url + "/hook").json()["id"]
    patched = api.patch(f"{BASE}/endpoints/{endpoint_id}", {"url": fake_server.url + "/v2",
                                                            "event_types": ["job.failed"]}, format="json")
    assert patched.status_code == 200 and patched.json()["url"].endswith("/v2")
    assert_api_error(api.patch(f"{BASE}/endpoints/{endpoint_id}", {"event_types": ["nope"]}, format="json"), 400,
                     "unknown_event_type")

    old = WebhookEndpoint.objects.get(pk=endpoint_id).secret
    rotated = post_json(api, f"{BASE}/endpoints/{endpoint_id}/rotate", {"overlap_hours": 2}).json()
    assert rotated["secret"] != old and rotated["secret"].startswith("whsec_")
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.signing_secrets() == [rotated["secret"], old]
    clock.advance(2 * 3600 + 1)
    assert endpoint.signing_secrets() == [rotated["secret"]]

    WebhookEndpoint.objects.filter(pk=endpoint_id).update(enabled=False, consecutive_failures=10,
                                                          disabled_reason="x")
    enabled = post_json(api, f"{BASE}/endpoints/{endpoint_id}/enable", {}).json()
    assert (enabled["enabled"], enabled["consecutive_failures"], enabled["disabled_reason"]) == (True, 0, "")
    assert api.delete(f"{BASE}/endpoints/{endpoint_id}").status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint_id).exists()


def test_deliveries_list_filters_and_detail_with_attempts(api, fake_server):
    endpoint_id = _create(api, fake_server.url + "/hook", types=["job.completed", "job.failed"]).json()["id"]
    fake_server.responses = [(500, {"e": 1})]
    [first] = _emit(api.user, "a")
    [second] = webhook_event_emit(owner=api.user, audience="account", event_type="job.failed", data={}, key="b")
    webhook_deliver(str(first.pk))
    webhook_deliver(str(second.pk))
    page = api.get(f"{BASE}/deliveries").json()
    assert {d["id"] for d in page["results"]} == {str(first.pk), str(second.pk)}
    assert [d["id"] for d in api.get(f"{BASE}/deliveries?status=pending").json()["results"]] == [str(first.pk)]
    assert [d["id"] for d in api.get(f"{BASE}/deliveries?event_type=job.failed").json()["results"]] == [
        str(second.pk)]
    assert len(api.get(f"{BASE}/deliveries?endpoint={endpoint_id}").json()["results"]) == 2
    assert_api_error(api.get(f"{BASE}/deliveries?status=nope"), 400, "validation_failed")
    assert_api_error(api.get(f"{BASE}/deliveries?cursor=forged"), 400, "validation_failed")
    detail = api.get(f"{BASE}/deliveries/{first.pk}").json()
    assert detail["attempts"] == 1 and detail["msg_id"] == first.msg_id
    assert [(a["number"], a["status_code"], a["succeeded"]) for a in detail["attempt_log"]] == [(1, 500, False)]


def test_replay_one_keeps_the_message_and_counts_on(api, fake_server, django_capture_on_commit_callbacks):
    _create(api, fake_server.url + "/hook")
    [delivery] = _emit(api.user)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8, next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=False):
        response = post_json(api, f"{BASE}/deliveries/{delivery.pk}/replay", {})
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    delivery.refresh_from_db()
    assert (delivery.attempts, delivery.replays) == (9, 1)
    assert list(delivery.attempt_rows.values_list("number", flat=True)) == [9]
    assert fake_server.requests[0]["headers"]["webhook-id"] == delivery.msg_id
    assert fake_server.requests[0]["body"] == delivery.body.encode()


def test_replay_is_refused_while_the_endpoint_is_disabled(api, fake_server):
    endpoint_id = _create(api, fake_server.url + "/hook").json()["id"]
    [delivery] = _emit(api.user)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(enabled=False)
    assert_api_error(post_json(api, f"{BASE}/deliveries/{delivery.pk}/replay", {}), 409, "endpoint_disabled")
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "failed"


def test_a_delivery_whose_body_was_not_kept_is_never_replayed(api, fake_server):
    """Job callbacks moved from the old table carry a placeholder body (replayable False): replaying
    one is a clear 409, and replaying all failed leaves them out."""
    moved = webhook_send(owner=api.user, url=fake_server.url + "/cb", event_type="job.succeeded",
                         data={"note": "moved to the webhook engine; body not stored"}, key="moved")
    kept = webhook_send(owner=api.user, url=fake_server.url + "/cb", event_type="job.succeeded", data={}, key="kept")
    WebhookDelivery.objects.filter(pk__in=[moved.pk, kept.pk]).update(status="failed")
    WebhookDelivery.objects.filter(pk=moved.pk).update(replayable=False)
    answer = assert_api_error(post_json(api, f"{BASE}/deliveries/{moved.pk}/replay", {}), 409,
                              "delivery_not_replayable")
    assert "not kept" in answer["message"]
    assert post_json(api, f"{BASE}/deliveries/replay-failed", {}).json() == {"replayed": 1}
    assert WebhookDelivery.objects.get(pk=moved.pk).status == "failed"
    assert WebhookDelivery.objects.get(pk=kept.pk).status == "pending"


def test_replay_all_failed_optionally_of_one_endpoint_since_a_time(api, fake_server):
    one = _create(api, fake_server.url + "/one").json()["id"]
    two = _create(api, fake_server.url + "/two").json()["id"]
    deliveries = _emit(api.user, "a") + _emit(api.user, "b")
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(status="failed")
    old = WebhookDelivery.objects.filter(endpoint_id=one).order_by("created_at").first()
    WebhookDelivery.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert post_json(api, f"{BASE}/deliveries/replay-failed", {"endpoint": one, "since": since}).json() == {
        "replayed": 1}
    assert WebhookDelivery.objects.filter(endpoint_id=two, status="failed").count() == 2
    assert post_json(api, f"{BASE}/deliveries/replay-failed", {}).json() == {"replayed": 3}
    assert not WebhookDelivery.objects.filter(status="failed").exists()


def test_another_account_s_objects_are_404(api, fake_server):
    other, other_raw = api_key_for()
    endpoint = WebhookEndpoint.objects.create(owner=other, url=fake_server.url + "/theirs",
                                              event_types=["job.completed"])
    [delivery] = _emit(other)
    for method, path in [("get", f"endpoints/{endpoint.pk}"), ("patch", f"endpoints/{endpoint.pk}"),
                         ("delete", f"endpoints/{endpoint.pk}"), ("post", f"endpoints/{endpoint.pk}/rotate"),
                         ("post", f"endpoints/{endpoint.pk}/enable"), ("get", f"deliveries/{delivery.pk}"),
                         ("post", f"deliveries/{delivery.pk}/replay"), ("get", f"deliveries?endpoint={endpoint.pk}")]:
        response = getattr(api, method)(f"{BASE}/{path}", {}, format="json")
        assert_api_error(response, 404, "not_found")
    assert_api_error(post_json(api, f"{BASE}/deliveries/replay-failed", {"endpoint": str(endpoint.pk)}), 404,
                     "not_found")
    assert api.get(f"{BASE}/endpoints").json()["data"] == []
    assert api.get(f"{BASE}/deliveries").json()["results"] == []
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == endpoint.secret


def test_scopes_read_and_write(client_for, fake_server):
    user, read_only = api_key_for(scopes=["webhooks:read"])
    client = client_for(read_only)
    assert client.get(f"{BASE}/endpoints").status_code == 200
    assert client.get(f"{BASE}/event-types").status_code == 200
    assert_api_error(_create(client, fake_server.url + "/x"), 403, "insufficient_scope")
    assert_api_error(post_json(client, f"{BASE}/secret/rotate", {}), 403, "insufficient_scope")


def test_event_types_are_listed_per_audience(api):
    names = [t["name"] for t in api.get(f"{BASE}/event-types?audience=account").json()["data"]]
    assert {"job.completed", "job.failed"} <= set(names) and "partner.verified" not in names


def test_the_account_signing_secret_and_its_rotation(api, fake_server, clock):
    first = api.get(f"{BASE}/secret").json()
    assert first["secret"].startswith("whsec_") and "Standard Webhooks" in first["scheme"]
    rotated = post_json(api, f"{BASE}/secret/rotate", {}).json()
    assert rotated["secret"] != first["secret"]
    assert api.get(f"{BASE}/secret").json()["secret"] == rotated["secret"]
    # A callback during the overlap verifies with either secret; after it, only with the new one.
    delivery = webhook_send(owner=api.user, url=fake_server.url + "/cb", event_type="job.succeeded", data={},
                            key="x")
    webhook_deliver(str(delivery.pk))
    for secret in (first["secret"], rotated["secret"]):
        standardwebhooks.Webhook(secret).verify(fake_server.requests[0]["body"], fake_server.requests[0]["headers"])
    clock.advance(24 * 3600 + 1)
    later = webhook_send(owner=api.user, url=fake_server.url + "/cb", event_type="job.succeeded", data={}, key="y")
    webhook_deliver(str(later.pk))
    request = fake_server.requests[1]
    standardwebhooks.Webhook(rotated["secret"]).verify(request["body"], request["headers"])
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(first["secret"]).verify(request["body"], request["headers"])
    assert_api_error(post_json(api, f"{BASE}/secret/rotate", {"overlap_hours": 500}), 400, "validation_failed")


def test_the_schema_documents_the_webhook_paths(api):
    schema = api.get("/api/v1/schema?format=json").json()
    for path in ["/api/v1/webhooks/endpoints", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate",
                 "/api/v1/webhooks/deliveries/replay-failed", "/api/v1/webhooks/secret"]:
        assert path in schema["paths"], path


def test_a_replay_after_the_url_was_fixed_goes_to_the_new_url(api, fake_server):
    endpoint_id = _create(api, fake_server.url + "/broken").json()["id"]
    fake_server.responses = [(404, {})]
    [delivery] = _emit(api.user)
    webhook_deliver(str(delivery.pk))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    api.patch(f"{BASE}/endpoints/{endpoint_id}", {"url": fake_server.url + "/fixed"}, format="json")
    post_json(api, f"{BASE}/deliveries/{delivery.pk}/replay", {})
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    assert [r["path"] for r in fake_server.requests] == ["/broken", "/fixed"]
    detail = api.get(f"{BASE}/deliveries/{delivery.pk}").json()
    assert [a["url"].rsplit("/", 1)[1] for a in detail["attempt_log"]] == ["broken", "fixed"]
