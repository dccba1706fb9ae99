"""Webhooks in admin: endpoints listed without secrets, filtered and searched, enabled/disabled by
action; deliveries with their attempts read-only, replayed one by one or all failed of their
endpoints."""

import re

import pytest

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.services import webhook_event_emit
from levqor.webhooks.tasks import webhook_deliver
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(fake_server):
    owner = UserFactory(email="hooks-owner@example.com")
    return WebhookEndpoint.objects.create(owner=owner, url=fake_server.url + "/hook", event_types=["job.completed"])


def _emit(owner, key):
    [delivery] = webhook_event_emit(owner=owner, audience="account", event_type="job.completed", data={}, key=key)
    return delivery


def _action(operator, path, action, ids):
    return operator.post(path, {"action": action, "_selected_action": [str(i) for i in ids]}, follow=True)


def test_endpoints_are_listed_searched_and_filtered_without_their_secrets(operator, endpoint):
    page = operator.get("/admin/webhooks/webhookendpoint/?q=hooks-owner&enabled__exact=1&audience__exact=account")
    assert page.status_code == 200
    text = page.content.decode()
    assert endpoint.url in text
    detail = operator.get(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in text and endpoint.secret not in detail
    assert "whsec_" not in detail


def test_disable_and_enable_actions(operator, endpoint):
    _action(operator, "/admin/webhooks/webhookendpoint/", "disable", [endpoint.pk])
    endpoint.refresh_from_db()
    assert endpoint.enabled is False and operator.user.email in endpoint.disabled_reason
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=10)
    _action(operator, "/admin/webhooks/webhookendpoint/", "enable", [endpoint.pk])
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures) == (True, 0)


def test_a_delivery_shows_its_attempts_and_is_replayed(operator, endpoint, fake_server):
    fake_server.responses = [(500, {"why": "down"})]
    delivery = _emit(endpoint.owner, "a")
    webhook_deliver(str(delivery.pk))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    listing = operator.get("/admin/webhooks/webhookdelivery/?status__exact=failed&event_type=job.completed")
    assert str(delivery.pk) in listing.content.decode()
    detail = operator.get(f"/admin/webhooks/webhookdelivery/{delivery.pk}/change/").content.decode()
    assert "The receiver answered 500." in detail and re.search(r"down", detail)

    response = _action(operator, "/admin/webhooks/webhookdelivery/", "replay", [delivery.pk])
    assert "Replaying 1 delivery" in response.content.decode()
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.replays) == ("delivered", 2, 1)


def test_replay_is_refused_for_a_disabled_endpoint_and_says_why(operator, endpoint):
    delivery = _emit(endpoint.owner, "a")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    response = _action(operator, "/admin/webhooks/webhookdelivery/", "replay", [delivery.pk])
    assert "Not replayed" in response.content.decode()
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "failed"


def test_replay_all_failed_of_the_selected_deliveries_endpoints(operator, endpoint):
    deliveries = [_emit(endpoint.owner, key) for key in "abc"]
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(status="failed")
    other = WebhookEndpoint.objects.create(owner=endpoint.owner, url=endpoint.url + "2", event_types=["x"])
    WebhookDelivery.objects.create(owner=endpoint.owner, endpoint=other, url=other.url, event_type="x",
                                   msg_id="msg_other", body="{}", status="failed")
    response = _action(operator, "/admin/webhooks/webhookdelivery/", "replay_failed_of_endpoints",
                       [deliveries[0].pk])
    assert "Replaying 3 failed" in response.content.decode()
    assert WebhookDelivery.objects.get(msg_id="msg_other").status == "failed"
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").count() == 3


def test_replay_every_failed_delivery_of_an_owner_callbacks_included(operator, endpoint):
    """An operator searches the owner, filters to callback URLs if they like, selects one delivery:
    every failed delivery of that owner goes out again (endpoint and callback URL alike), another
    owner's stay, and one whose body was not kept is left out."""
    from levqor.webhooks.services import webhook_send

    owner = endpoint.owner
    emitted = _emit(owner, "a")
    callback = webhook_send(owner=owner, url="https://example.com/cb", event_type="job.failed", data={}, key="cb")
    moved = webhook_send(owner=owner, url="https://example.com/cb", event_type="job.failed", data={}, key="moved")
    theirs = webhook_send(owner=UserFactory(), url="https://example.com/cb", event_type="job.failed", data={}, key="t")
    WebhookDelivery.objects.update(status="failed")
    WebhookDelivery.objects.filter(pk=moved.pk).update(replayable=False)

    listing = operator.get("/admin/webhooks/webhookdelivery/?q=hooks-owner&target=url&status__exact=failed")
    text = listing.content.decode()
    assert str(callback.pk) in text and str(emitted.pk) not in text and str(theirs.pk) not in text
    response = _action(operator, "/admin/webhooks/webhookdelivery/", "replay_failed_of_owners", [callback.pk])
    assert "Replaying 2 failed delivery(ies) of 1 owner(s)." in response.content.decode()
    status = dict(WebhookDelivery.objects.values_list("pk", "status"))
    assert (status[emitted.pk], status[callback.pk], status[moved.pk], status[theirs.pk]) == (
        "pending", "pending", "failed", "failed")
