from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from compliance.models import TermsAcceptance, TermsVersion
from tests.compliance.conftest import csrf_from
from tests.conftest import post_json
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/dashboard", "/workflow/x", "/account", "/settings", "/developer",
                                  "/api/workflows", "/partners", "/webhooks"])
def test_a_signed_in_user_who_has_not_accepted_is_sent_to_accept_the_terms(browser, terms, path):
    response = browser.get(path)
    if path.startswith("/api/"):
        assert response.status_code == 403
    else:
        assert response.status_code == 302
        assert response["Location"] == f"/legal/accept-terms?returnTo={path.replace('/', '%2F')}"


def test_webhook_changes_from_the_page_wait_for_the_terms_too(browser, terms):
    """Adding an endpoint on /webhooks (a POST) is the product: it is gated like the page."""
    from levqor.webhooks.models import WebhookEndpoint

    response = browser.post("/webhooks", {"url": "https://example.com/hook", "event_types": ["job.completed"]})
    assert response.status_code == 302 and response["Location"].startswith("/legal/accept-terms?returnTo=%2Fwebhooks")
    assert not WebhookEndpoint.objects.exists()


def test_json_requests_get_403_terms_not_accepted_in_the_error_shape(browser, terms):
    response = browser.get("/settings", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "terms_not_accepted"
    assert body["details"]["terms_version"] == "2025-11-14"
    assert {"message", "correlation_id"} <= set(body)
    assert browser.get("/api/workflows/whatever").json()["error"] == "terms_not_accepted"


def test_accepting_records_who_when_where_and_returns_to_the_page(browser, terms):
    page = browser.get("/legal/accept-terms?returnTo=/settings")
    assert page.status_code == 200
    assert terms.text.splitlines()[0] in page.content.decode() and "1. The service." in page.content.decode()
    assert 'id="accept-terms"' in page.content.decode()
    response = browser.post("/legal/accept-terms", {
        "returnTo": "/settings", "version_id": terms.pk, "csrfmiddlewaretoken": browser.cookies["csrftoken"].value},
        HTTP_USER_AGENT="Firefox/Test", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302 and response["Location"] == "/settings"
    acceptance = TermsAcceptance.objects.get(user=browser.user)
    assert (acceptance.version, acceptance.ip, acceptance.user_agent) == (terms, "198.51.100.7", "Firefox/Test")
    assert browser.get("/settings").status_code == 200


def test_the_form_needs_its_csrf_token(browser, terms):
    response = browser.post("/legal/accept-terms", {"returnTo": "/settings", "version_id": terms.pk})
    assert response.status_code == 403
    assert not TermsAcceptance.objects.exists()


@pytest.mark.parametrize("return_to", ["https://evil.example/phish", "//evil.example/x", "/\\evil.example",
                                       "javascript:alert(1)", "settings"])
def test_return_to_offsite_is_refused_and_falls_back_to_the_dashboard(browser, terms, return_to):
    token = csrf_from(browser, "/legal/accept-terms")
    response = browser.post("/legal/accept-terms", {"returnTo": return_to, "version_id": terms.pk,
                                                    "csrfmiddlewaretoken": token})
    assert response["Location"] == "/dashboard"


def test_publishing_a_new_version_asks_everyone_again(browser, terms):
    token = csrf_from(browser, "/legal/accept-terms")
    browser.post("/legal/accept-terms", {"returnTo": "/settings", "version_id": terms.pk, "csrfmiddlewaretoken": token})
    assert browser.get("/settings").status_code == 200
    TermsVersion.objects.create(version="2026-01-01", text="New words.", published_at=timezone.now())
    response = browser.get("/settings")
    assert response.status_code == 302 and response["Location"].startswith("/legal/accept-terms")
    assert "New words." in browser.get(response["Location"]).content.decode()


def test_a_version_scheduled_for_later_is_not_asked_for_yet(browser, terms):
    token = csrf_from(browser, "/legal/accept-terms")
    browser.post("/legal/accept-terms", {"returnTo": "/settings", "version_id": terms.pk, "csrfmiddlewaretoken": token})
    TermsVersion.objects.create(version="2099-01-01", text="Later.", published_at=timezone.now() + timedelta(days=30))
    assert browser.get("/settings").status_code == 200


def test_without_published_terms_there_is_nothing_to_accept(browser, no_terms):
    assert browser.get("/settings").status_code == 200


def test_anonymous_visitors_and_unprotected_pages_pass(browser, terms):
    assert Client().get("/settings").status_code == 302  # to sign-in, not to the terms
    assert Client().get("/settings")["Location"].startswith("/login")
    assert browser.get("/legal/accept-terms").status_code == 200


def test_the_gate_costs_at_most_one_query_per_page_view(browser, terms, django_assert_max_num_queries):
    token = csrf_from(browser, "/legal/accept-terms")
    browser.post("/legal/accept-terms", {"returnTo": "/settings", "version_id": terms.pk, "csrfmiddlewaretoken": token})
    from compliance.middleware import TermsMiddleware

    calls = []
    middleware = TermsMiddleware(lambda request: calls.append(request) or "page")
    request = browser.get("/settings").wsgi_request
    with django_assert_max_num_queries(1):
        assert middleware(request) == "page"


def test_the_old_accept_terms_endpoint_still_works_for_api_clients(terms, client_for):
    user, raw = api_key_for()
    api = client_for(raw)
    response = post_json(api, f"/api/v1/users/{user.pk}/accept-terms", {}, HTTP_USER_AGENT="curl/8",
                         REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    body = response.json()
    assert body["terms_version"] == "2025-11-14" and body["terms_accepted_ip"] == "203.0.113.9"
    assert body["terms_accepted_at"]
    assert TermsAcceptance.objects.get(user=user).user_agent == "curl/8"
    # ... and the users API now shows it.
    shown = api.get(f"/api/v1/users/{user.pk}").json()
    assert (shown["terms_version"], shown["terms_accepted_ip"]) == ("2025-11-14", "203.0.113.9")
    # Another user's id is not confirmed; an unknown version is refused.
    other, _ = api_key_for()
    assert post_json(api, f"/api/v1/users/{other.pk}/accept-terms", {}).status_code == 404
    refused = post_json(api, f"/api/v1/users/{user.pk}/accept-terms", {"version": "1999-01-01"})
    assert refused.status_code == 400 and refused.json()["error"] == "validation_failed"


def test_accept_terms_needs_users_write(terms, client_for):
    user, raw = api_key_for(scopes=["users:read"])
    response = post_json(client_for(raw), f"/api/v1/users/{user.pk}/accept-terms", {})
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"


def test_users_api_query_count_stays_small(terms, client_for, django_assert_max_num_queries):
    user, raw = api_key_for()
    api = client_for(raw)
    post_json(api, f"/api/v1/users/{user.pk}/accept-terms", {})
    api.get(f"/api/v1/users/{user.pk}")
    with django_assert_max_num_queries(4):  # auth is cached; the user, the acceptance, the marketing state
        assert api.get(f"/api/v1/users/{user.pk}").status_code == 200
