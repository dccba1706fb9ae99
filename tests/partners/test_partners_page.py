"""The /partners page: signed-in users apply (errors by field), then see the status, the reasons
and the trail (never the reviewer), and the credentials and endpoint blocks."""

import pytest
from django.test import Client

from levqor.webhooks.models import WebhookEndpoint
from partners.models import Partner
from partners.services.registry import partner_register
from partners.services.status import partner_status_change
from tests.factories import UserFactory, terms_shipped

pytestmark = pytest.mark.django_db

FORM = {"name": "Acme Automations", "email": "partners@acme.example", "webhook_url": "https://hooks.acme.example/levqor",
        "metadata": ""}


@pytest.fixture
def browser(db):
    client = Client(enforce_csrf_checks=True)
    client.user = UserFactory(terms_accepted=True)
    client.force_login(client.user)
    return client


def csrf_post(client, path, data):
    client.get(path)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_signed_out_visitors_are_sent_to_sign_in(db):
    response = Client().get("/partners")
    assert response.status_code == 302 and response["Location"].startswith("/login?next=/partners")


def test_the_terms_gate_covers_the_page(db):
    client = Client()
    client.force_login(UserFactory(terms_accepted=False))
    terms_shipped()
    assert client.get("/partners")["Location"].startswith("/legal/accept-terms")


def test_without_a_partner_the_page_shows_the_apply_form(browser):
    page = browser.get("/partners").content.decode()
    assert 'id="partner-apply-form"' in page and "csrfmiddlewaretoken" in page


def test_applying_redirects_and_shows_the_pending_status(browser):
    response = csrf_post(browser, "/partners", {**FORM, "metadata": '{"website": "https://acme.example"}'})
    assert response.status_code == 302 and response["Location"] == "/partners"
    partner = Partner.objects.get(owner=browser.user)
    assert partner.status == "pending_approval" and partner.metadata == {"website": "https://acme.example"}
    page = browser.get("/partners").content.decode()
    assert "pending approval" in page and "applied" in page and 'id="partner-apply-form"' not in page
    assert 'id="partner-credentials"' in page and 'id="webhook-endpoints"' in page


def test_errors_are_shown_by_field_and_nothing_is_made(browser):
    response = csrf_post(browser, "/partners", {**FORM, "email": "nope", "name": "", "metadata": "{not json"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="errors-name"' in page and 'id="errors-metadata"' in page
    response = csrf_post(browser, "/partners", {**FORM, "email": "nope"})
    assert 'id="errors-email"' in response.content.decode()
    response = csrf_post(browser, "/partners", {**FORM, "webhook_url": "ftp://hooks.acme.example/x"})
    assert response.status_code == 400 and 'id="errors-webhook_url"' in response.content.decode()
    assert response.context["form"]["name"].value() == FORM["name"]  # what was typed stays
    assert not Partner.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(browser):
    assert browser.post("/partners", FORM).status_code == 403
    assert not Partner.objects.exists()


def test_the_status_reason_and_trail_show_without_the_reviewer(browser, operator):
    partner = partner_register(owner=browser.user, **{k: v for k, v in FORM.items() if k != "metadata"})
    partner_status_change(partner=partner, action="approve", actor=operator.user, reason="Verified the company")
    page = browser.get("/partners").content.decode()
    assert 'data-status="approved"' in page and "Verified the company" in page
    assert "pending approval → approved" in page and "Next review:" in page
    assert operator.user.email not in page


def test_the_page_is_linked_from_the_navigation_and_the_developer_page(browser):
    page = browser.get("/developer").content.decode()
    assert 'href="/partners"' in page and 'id="partners-link"' in page


def test_the_page_is_never_cached(browser):
    for state in ("no partner", "a partner"):
        response = browser.get("/partners")
        cache_control = response["Cache-Control"]
        assert "no-store" in cache_control and "private" in cache_control and "max-age=0" in cache_control, state
        if state == "no partner":
            csrf_post(browser, "/partners", FORM)


def test_applying_shows_the_webhook_endpoints_secret_once(browser):
    response = csrf_post(browser, "/partners", FORM)
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(owner=browser.user, audience="partner")
    page = browser.get("/partners")
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert endpoint.secret in html and 'id="partner-webhook-secret-note"' in html
    assert "Verify partner events" in html
    again = browser.get("/partners").content.decode()
    assert endpoint.secret not in again and 'id="partner-webhook-secret-note"' not in again

