"""The /webhooks page: sign-in required, add an endpoint (secret shown once, Post/Redirect/Get),
rotate, disable/enable, delete, recent deliveries with replay; CSRF on every form; another
account's objects are 404; the partner audience only for a partner's owner."""

import re

import pytest
from django.test import Client

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.services import webhook_event_emit
from tests.factories import UserFactory, terms_accepted_by

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user):
    terms_accepted_by(user)  # the page is behind the terms gate (tests/compliance/test_terms.py)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.user = user
    return client


def _csrf(client) -> str:
    client.get("/webhooks")
    return client.cookies["csrftoken"].value


def _post(client, path, data=None):
    return client.post(path, {"csrfmiddlewaretoken": _csrf(client), **(data or {})})


def test_sign_in_is_required():
    assert Client().get("/webhooks")["Location"].startswith("/login")


def test_add_an_endpoint_shows_its_secret_once(browser, fake_server):
    response = _post(browser, "/webhooks", {"url": fake_server.url + "/hook",
                                            "event_types": ["job.completed", "job.failed"]})
    assert response.status_code == 302 and response["Location"] == "/webhooks"
    endpoint = WebhookEndpoint.objects.get(owner=browser.user)
    assert endpoint.event_types == ["job.completed", "job.failed"]
    page = browser.get("/webhooks").content.decode()
    assert endpoint.secret in page and endpoint.url in page
    assert endpoint.secret not in browser.get("/webhooks").content.decode()  # once


def test_a_bad_url_or_no_event_type_says_why(browser):
    response = _post(browser, "/webhooks", {"url": "ftp://x", "event_types": ["job.completed"]})
    assert response.status_code == 400 and "http(s)" in response.content.decode()
    response = _post(browser, "/webhooks", {"url": "https://example.com/x"})
    assert response.status_code == 400 and "event_types" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_every_form_needs_its_csrf_token(browser, fake_server):
    endpoint = WebhookEndpoint.objects.create(owner=browser.user, url=fake_server.url, event_types=["job.completed"])
    page = browser.get("/webhooks").content.decode()
    assert page.count("<form") == page.count("csrfmiddlewaretoken")
    for path in ["/webhooks", f"/webhooks/endpoints/{endpoint.pk}/rotate", f"/webhooks/endpoints/{endpoint.pk}/delete"]:
        assert browser.post(path, {"url": "https://example.com", "event_types": ["job.completed"]}).status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).count() == 1


def test_rotate_disable_enable_delete(browser, fake_server):
    endpoint = WebhookEndpoint.objects.create(owner=browser.user, url=fake_server.url, event_types=["job.completed"])
    old = endpoint.secret
    assert _post(browser, f"/webhooks/endpoints/{endpoint.pk}/rotate").status_code == 302
    endpoint.refresh_from_db()
    page = browser.get("/webhooks").content.decode()
    assert endpoint.secret != old and endpoint.secret in page and old not in page
    _post(browser, f"/webhooks/endpoints/{endpoint.pk}/disable")
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert re.search(r'data-enabled="false"', browser.get("/webhooks").content.decode())
    _post(browser, f"/webhooks/endpoints/{endpoint.pk}/enable")
    endpoint.refresh_from_db()
    assert endpoint.enabled is True
    _post(browser, f"/webhooks/endpoints/{endpoint.pk}/delete")
    assert not WebhookEndpoint.objects.exists()


def test_deliveries_are_shown_and_replayed(browser, fake_server):
    WebhookEndpoint.objects.create(owner=browser.user, url=fake_server.url + "/hook", event_types=["job.completed"])
    [delivery] = webhook_event_emit(owner=browser.user, audience="account", event_type="job.completed", data={})
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", attempts=8, last_status_code=500)
    page = browser.get("/webhooks").content.decode()
    assert f'data-delivery-id="{delivery.pk}" data-status="failed"' in page
    response = _post(browser, f"/webhooks/deliveries/{delivery.pk}/replay", {"return_to": "/partners"})
    assert response["Location"] == "/partners"  # back to the page that includes the block
    delivery.refresh_from_db()
    assert (delivery.status, delivery.replays) == ("pending", 1)


def test_return_to_stays_on_this_site(browser, fake_server):
    endpoint = WebhookEndpoint.objects.create(owner=browser.user, url=fake_server.url, event_types=["job.completed"])
    response = _post(browser, f"/webhooks/endpoints/{endpoint.pk}/disable", {"return_to": "https://evil.example"})
    assert response["Location"] == "/webhooks"


def test_another_account_s_objects_are_404(browser, fake_server):
    other = UserFactory()
    endpoint = WebhookEndpoint.objects.create(owner=other, url=fake_server.url, event_types=["job.completed"])
    [delivery] = webhook_event_emit(owner=other, audience="account", event_type="job.completed", data={})
    for path in [f"/webhooks/endpoints/{endpoint.pk}/rotate", f"/webhooks/endpoints/{endpoint.pk}/disable",
                 f"/webhooks/endpoints/{endpoint.pk}/delete", f"/webhooks/deliveries/{delivery.pk}/replay"]:
        assert _post(browser, path).status_code == 404, path
    assert endpoint.url not in browser.get("/webhooks").content.decode()
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_the_partner_audience_is_only_for_a_partner_s_owner(browser, monkeypatch):
    assert browser.get("/webhooks?audience=partner").status_code == 404
    from levqor.webhooks import events

    monkeypatch.setitem(events._audience_checks, "partner", lambda user: user.pk == browser.user.pk)
    page = browser.get("/webhooks?audience=partner").content.decode()
    assert 'data-audience="partner"' in page and "partner.verified" in page
