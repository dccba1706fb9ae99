import json
from urllib.parse import unquote

import pytest
from django.test import Client

from compliance import services
from compliance.models import AnalyticsEvent, ConsentRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(browser, terms):
    """Here the signed-in user has accepted the terms in force, so the terms gate lets them use /settings."""
    services.terms_accept(user=browser.user, ip=None)
    return browser


def visitor():
    client = Client(enforce_csrf_checks=True)
    page = client.get("/marketing/confirm")  # any page: it carries the banner and its CSRF token
    return client, page


def choose(client, body, **extra):
    return client.post("/consent", data=json.dumps(body), content_type="application/json",
                       HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, **extra)


def cookie(client) -> dict:
    return json.loads(unquote(client.cookies["levqor_consent"].value))


def test_the_banner_shows_until_the_visitor_decides_and_sets_nothing_optional_before():
    client, page = visitor()
    html = page.content.decode()
    for element in ('id="cookie-banner" class="cookie-banner"', 'id="cookie-accept-all"', 'id="cookie-reject-all"',
                    'id="cookie-customise"', 'name="functional"', 'name="analytics"', 'name="marketing"',
                    'id="cookie-save"', 'name="necessary" checked disabled'):
        assert element in html
    assert set(page.cookies) <= {"csrftoken"}  # only what is necessary
    choose(client, {"action": "reject_all"})
    assert 'class="cookie-banner hidden"' in client.get("/marketing/confirm").content.decode()


def test_every_decision_is_logged_and_kept_in_the_cookie(settings):
    client, _ = visitor()
    response = choose(client, {"action": "reject_all"}, HTTP_USER_AGENT="Chromium/Test", REMOTE_ADDR="198.51.100.77")
    assert response.status_code == 201
    morsel = response.cookies["levqor_consent"]
    assert morsel["samesite"] == "Lax" and morsel["max-age"] == settings.COOKIE_CONSENT_MAX_AGE
    assert not morsel["secure"]  # plain HTTP here; HTTPS gets Secure (next test)
    first = cookie(client)
    assert first["v"] == settings.COOKIE_POLICY_VERSION
    assert first["c"] == {"functional": False, "analytics": False, "marketing": False}

    choose(client, {"choices": {"functional": True, "analytics": True, "marketing": False}})
    records = list(ConsentRecord.objects.order_by("at", "id"))
    assert len(records) == 2  # appended, not overwritten
    assert records[0].choices == {"necessary": True, "functional": False, "analytics": False, "marketing": False}
    assert records[1].choices["analytics"] is True
    assert records[0].anonymous_id == records[1].anonymous_id == cookie(client)["id"]
    assert (records[0].ip_truncated, records[0].user_agent) == ("198.51.100.0", "Chromium/Test")


def test_ipv6_is_truncated_to_48_and_https_cookies_are_secure():
    client, _ = visitor()
    response = choose(client, {"action": "accept_all"}, REMOTE_ADDR="2001:db8:abcd:12:1:2:3:4", secure=True,
                      HTTP_REFERER="https://testserver/")
    assert response.cookies["levqor_consent"]["secure"]
    assert ConsentRecord.objects.get().ip_truncated == "2001:db8:abcd::"


def test_consent_without_the_csrf_token_is_refused():
    client, _ = visitor()
    response = client.post("/consent", data=json.dumps({"action": "accept_all"}), content_type="application/json")
    assert response.status_code == 403 and not ConsentRecord.objects.exists()


def test_signed_in_visitors_are_logged_with_their_user(browser):
    browser.get("/settings")
    choose(browser, {"action": "accept_all"})
    assert ConsentRecord.objects.get().user == browser.user


def test_the_banner_form_works_without_script():
    client, _ = visitor()
    response = client.post("/consent", {"action": "save", "analytics": "on", "next": "/settings",
                                        "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 302 and response["Location"] == "/settings"
    assert cookie(client)["c"] == {"functional": False, "analytics": True, "marketing": False}


def test_a_new_cookie_policy_version_asks_again(settings):
    client, _ = visitor()
    choose(client, {"action": "accept_all"})
    assert 'class="cookie-banner hidden"' in client.get("/marketing/confirm").content.decode()
    settings.COOKIE_POLICY_VERSION = "2026-02-01"
    html = client.get("/marketing/confirm").content.decode()
    assert 'class="cookie-banner"' in html
    # Consent given under the old policy no longer counts on the server either.
    assert client.post("/consent/analytics-event", data=json.dumps({"name": "page_view"}),
                       content_type="application/json",
                       HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value).status_code == 204


def test_the_server_stores_analytics_events_only_with_analytics_consent():
    client, _ = visitor()

    def event():
        return client.post("/consent/analytics-event", data=json.dumps({"name": "page_view", "path": "/pricing"}),
                           content_type="application/json", HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)

    assert event().status_code == 204  # no decision yet
    choose(client, {"choices": {"functional": True, "analytics": False, "marketing": True}})
    assert event().status_code == 204
    assert not AnalyticsEvent.objects.exists()
    choose(client, {"choices": {"analytics": True}})
    assert event().status_code == 201
    stored = AnalyticsEvent.objects.get()
    assert (stored.name, stored.path, stored.anonymous_id) == ("page_view", "/pricing", cookie(client)["id"])
    choose(client, {"action": "reject_all"})  # withdrawn: nothing more is stored
    assert event().status_code == 204
    assert AnalyticsEvent.objects.count() == 1


def test_pages_load_the_consent_script_under_the_csp_nonce():
    _, page = visitor()
    html = page.content.decode()
    nonce = page["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'src="/static/compliance/consent.js" nonce="{nonce}"' in html
    assert "style=" not in html and " onclick=" not in html
