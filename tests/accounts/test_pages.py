"""Public pages, the account page and the developer portal, as a signed-in user sees them."""

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyEvent
from accounts.services.key_auth import api_key_authenticate, api_key_hash
from tests.factories import ApiKeyFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_KEY = re.compile(r'id="new-key"[^>]*>([^<]+)<')


@pytest.fixture
def signed_in():
    user = UserFactory(email="dev@example.com", terms_accepted=True)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.mark.parametrize(("path", "text"), [
    ("/privacy", "What we keep"), ("/terms", "Version <strong>2025-11-14</strong>"), ("/cookies", "levqor_consent"),
    ("/faq", "How do I sign in?"), ("/security", "SHA-256"),
])
def test_public_pages_render_with_the_footer(path, text):
    answer = Client().get(path)
    assert answer.status_code == 200
    page = answer.content.decode()
    assert text in page
    assert 'id="cookie-settings"' in page and 'href="/api/v1/docs"' in page


PUBLIC_PAGES = ("/", "/privacy", "/terms", "/cookies", "/faq", "/security", "/login")
INTERNAL_LINK = re.compile(r'<a\b[^>]*\bhref="(/(?!/)[^"]*)"')


@pytest.mark.parametrize("visitor", ["anonymous", "signed_in"])
def test_every_internal_link_on_the_public_pages_leads_somewhere(visitor):
    client, pages = Client(), PUBLIC_PAGES
    if visitor == "signed_in":  # the header then links the product's own pages; /login sends them on
        client.force_login(UserFactory(terms_accepted=True))
        pages = tuple(path for path in PUBLIC_PAGES if path != "/login")
    links = set()
    for path in pages:
        answer = client.get(path, HTTP_ACCEPT="text/html")
        assert answer.status_code == 200, path
        links |= {(path, html.unescape(href)) for href in INTERNAL_LINK.findall(answer.content.decode())}
    assert {"/privacy", "/terms", "/api/v1/docs"} <= {href for _, href in links}
    broken = [(page, href, status) for page, href in sorted(links)
              if (status := client.get(href, HTTP_ACCEPT="text/html").status_code) not in (200, 301, 302, 303, 307, 308)]
    assert not broken, broken


def test_root_stays_json_for_api_clients_and_is_the_home_page_for_browsers():
    for accept in ("", "application/json", "*/*"):
        answer = Client().get("/", HTTP_ACCEPT=accept)
        assert answer["Content-Type"] == "application/json"
        assert answer.json()["service"] == "levqor-backend"
    browser = Client().get("/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser["Content-Type"].startswith("text/html")
    assert "Sign in or create an account" in browser.content.decode()
    assert "Accept" in browser["Vary"]


def test_pages_carry_the_nonce_policy_and_no_inline_handlers(signed_in):
    for path in ("/", "/dashboard", "/developer", "/account", "/workflow", "/login"):
        answer = signed_in.get(path, HTTP_ACCEPT="text/html")
        page = answer.content.decode()
        policy = answer["Content-Security-Policy"]
        assert not re.search(r"\son[a-z]+=", page), path
        assert ' style="' not in page, path
        for tag in re.findall(r"<(?:script|style)[^>]*>", page):
            nonce = re.search(r'nonce="([^"]+)"', tag)
            assert nonce and f"'nonce-{nonce.group(1)}'" in policy, (path, tag)


@pytest.mark.parametrize("path", ["/account", "/developer", "/dashboard", "/workflow"])
def test_signed_in_pages_need_a_sign_in(path, signed_in):
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and anonymous["Location"] == f"/login?next={path}"
    assert signed_in.get(path).status_code == 200


def test_profile_is_saved_and_email_shown(signed_in):
    page = signed_in.get("/account").content.decode()
    assert "dev@example.com" in page
    answer = signed_in.post("/account", {"name": "Ada Lovelace", "locale": "fr-FR", "currency": "EUR"})
    assert answer.status_code == 302
    signed_in.user.refresh_from_db()
    assert (signed_in.user.name, signed_in.user.locale, signed_in.user.currency) == ("Ada Lovelace", "fr-FR", "EUR")
    bad = signed_in.post("/account", {"name": "x", "locale": "not a locale!", "currency": "XYZ"})
    assert bad.status_code == 400
    assert "language tag" in bad.content.decode()
    signed_in.user.refresh_from_db()
    assert signed_in.user.currency == "EUR"


def test_the_currency_choices_read_as_currencies_and_store_their_codes(signed_in):
    page = signed_in.get("/account").content.decode()
    options = re.findall(r'<option value="([A-Z]{3})"( selected)?>([^<]+)</option>', page)
    assert [(value, label) for value, _, label in options] == [("GBP", "GBP (£)"), ("USD", "USD ($)"), ("EUR", "EUR (€)")]
    assert [value for value, selected, _ in options if selected] == ["GBP"]
    assert signed_in.post("/account", {"name": "", "locale": "en-US", "currency": "USD"}).status_code == 302
    signed_in.user.refresh_from_db()
    assert signed_in.user.currency == "USD"
    assert '<option value="USD" selected>USD ($)</option>' in signed_in.get("/account").content.decode()


def test_forms_refuse_a_post_without_the_csrf_token():
    user = UserFactory(terms_accepted=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post("/developer", {"name": "ci"}).status_code == 403
    assert not ApiKey.objects.filter(owner=user).exists()
    page = client.get("/developer").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post("/developer", {"name": "ci", "csrfmiddlewaretoken": token}).status_code == 302
    assert ApiKey.objects.filter(owner=user, name="ci").count() == 1


def test_create_shows_the_raw_key_once(signed_in):
    answer = signed_in.post("/developer", {"name": "ci", "mode": "test"})
    # Post/Redirect/Get: the form's answer is a redirect, so a reload cannot send the form again.
    assert answer.status_code == 302 and answer["Location"] == "/developer"
    shown = signed_in.get(answer["Location"])
    assert "no-store" in shown["Cache-Control"]
    page = shown.content.decode()
    raw = NEW_KEY.search(page).group(1).strip()
    assert raw.startswith("lvk_test_")
    key = ApiKey.objects.get(owner=signed_in.user)
    assert key.key_hash == api_key_hash(raw) and key.name == "ci" and not key.livemode
    assert api_key_authenticate(raw) is not None
    event = ApiKeyEvent.objects.get(api_key=key)
    assert (event.action, event.actor, event.details) == ("created", signed_in.user, {"via": "portal"})
    again = signed_in.get("/developer").content.decode()
    assert raw not in again and 'id="new-key"' not in again
    assert key.prefix in again and "ci" in again
    assert ApiKey.objects.filter(owner=signed_in.user).count() == 1
    assert raw not in str(dict(signed_in.session))  # forgotten once shown


def test_a_new_key_not_shown_within_minutes_is_not_shown_later(signed_in, clock):
    # The redirect was never followed (a closed tab): the raw key must not wait in the session.
    answer = signed_in.post("/developer", {"name": "ci", "mode": "test"})
    assert answer.status_code == 302
    clock.advance(301)
    page = signed_in.get("/developer").content.decode()
    assert 'id="new-key"' not in page and not re.search(r"lvk_test_[0-9a-f]{32}", page)  # the prefix alone is listed
    assert "accounts_developer_new_key" not in dict(signed_in.session)


def test_a_failed_create_shows_the_form_again_and_no_key(signed_in):
    answer = signed_in.post("/developer", {"name": "", "mode": "test"})
    assert answer.status_code == 400 and 'id="new-key"' not in answer.content.decode()
    assert not ApiKey.objects.filter(owner=signed_in.user).exists()


def test_portal_shows_tier_and_usage(signed_in, settings):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "sandbox": 1000}
    created = ApiKeyFactory(owner=signed_in.user, name="main")
    client = Client(HTTP_X_API_KEY=created.raw_key)
    for _ in range(3):
        assert client.get("/api/v1/jobs").status_code == 200
    page = signed_in.get("/developer").content.decode()
    assert re.search(r'id="tier">sandbox<', page)
    assert re.search(r'id="usage-used">3<', page) and re.search(r'id="usage-limit">1000<', page)


def test_rotate_with_the_chosen_grace(signed_in):
    created = ApiKeyFactory(owner=signed_in.user, name="main")
    before = timezone.now()
    answer = signed_in.post(f"/developer/keys/{created.pk}/rotate", {"grace_hours": "2"})
    assert answer.status_code == 302 and answer["Location"] == "/developer"
    page = signed_in.get(answer["Location"]).content.decode()
    new_raw = NEW_KEY.search(page).group(1).strip()
    assert "keeps working for 2 hours" in page
    again = signed_in.get("/developer").content.decode()
    assert new_raw not in again and 'id="new-key"' not in again  # shown once, as a created key
    assert ApiKey.objects.filter(owner=signed_in.user).count() == 2  # the old one and its successor
    old = ApiKey.objects.get(pk=created.pk)
    assert before + timedelta(hours=2) <= old.expires_at <= timezone.now() + timedelta(hours=2)
    assert api_key_authenticate(created.raw_key) is not None  # still within grace
    assert api_key_authenticate(new_raw).rotated_from_id == old.pk


def test_rotate_with_no_grace_stops_the_old_key_now(signed_in):
    created = ApiKeyFactory(owner=signed_in.user, name="main")
    signed_in.post(f"/developer/keys/{created.pk}/rotate", {"grace_hours": "0"})
    assert api_key_authenticate(created.raw_key) is None


def test_the_portal_does_not_rotate_an_admin_read_key_of_an_account_no_longer_staff(signed_in):
    signed_in.user.is_staff = True
    signed_in.user.save(update_fields=["is_staff"])
    created = ApiKeyFactory(owner=signed_in.user, name="ops", scopes=["admin:read"])
    signed_in.user.is_staff = False
    signed_in.user.save(update_fields=["is_staff"])
    answer = signed_in.post(f"/developer/keys/{created.pk}/rotate", {"grace_hours": "0"}, follow=True)
    assert "Only Levqor staff may hold a key with the admin:read scope" in html.unescape(answer.content.decode())
    assert ApiKey.objects.filter(owner=signed_in.user).count() == 1  # no successor
    assert api_key_authenticate(created.raw_key) is not None  # nor was the old one cut short


def test_revoke(signed_in):
    created = ApiKeyFactory(owner=signed_in.user, name="main")
    answer = signed_in.post(f"/developer/keys/{created.pk}/revoke", follow=True)
    assert "is revoked" in answer.content.decode()
    assert api_key_authenticate(created.raw_key) is None
    assert re.search(r'data-status="revoked"', answer.content.decode())


def test_someone_elses_key_cannot_be_rotated_or_revoked(signed_in):
    other = ApiKeyFactory(owner=UserFactory(), name="theirs")
    assert signed_in.post(f"/developer/keys/{other.pk}/rotate", {"grace_hours": "1"}).status_code == 404
    assert signed_in.post(f"/developer/keys/{other.pk}/revoke").status_code == 404
    assert api_key_authenticate(other.raw_key) is not None
    assert "theirs" not in signed_in.get("/developer").content.decode()
