import hashlib
import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from compliance import services
from compliance.models import MarketingConsentEvent, MarketingOptInToken
from tests.compliance.conftest import csrf_from
from tests.conftest import post_json
from tests.factories import api_key_for

# transaction=True: the confirmation email leaves after the commit, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def browser(browser, terms):
    """Here the signed-in user has accepted the terms in force, so the terms gate lets them use /settings."""
    services.terms_accept(user=browser.user, ip=None)
    return browser


def link_in(message) -> str:
    # Links in mail are made from SITE_URL, whatever host the request came on.
    return re.search(re.escape(settings.SITE_URL) + r"/marketing/confirm\?token=(\S+)", message.body).group(0)


def token_in(message) -> str:
    return re.search(r"token=(\S+)", message.body).group(1)


def opt_in_from_settings(browser):
    token = csrf_from(browser)
    return browser.post("/settings/marketing", {"action": "opt_in", "csrfmiddlewaretoken": token},
                        REMOTE_ADDR="198.51.100.8")


def test_opting_in_from_settings_sends_a_confirmation_link_and_stores_only_its_hash(browser):
    response = opt_in_from_settings(browser)
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [browser.user.email]
    raw = token_in(mail.outbox[0])
    stored = MarketingOptInToken.objects.get()
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in json.dumps(list(MarketingOptInToken.objects.values()), default=str)
    assert stored.expires_at - stored.created_at == timedelta(days=7)
    assert "Waiting for you to confirm" in browser.get("/settings").content.decode()


def test_the_link_confirms_once_with_a_post_and_records_time_and_ip(browser):
    opt_in_from_settings(browser)
    link = link_in(mail.outbox[0])
    stranger = Client(enforce_csrf_checks=True)
    page = stranger.get(link)  # a mailbox's link scanner: GET changes nothing
    assert 'id="marketing-confirm"' in page.content.decode()
    assert not MarketingConsentEvent.objects.filter(action="confirmed").exists()
    token = token_in(mail.outbox[0])
    confirm = stranger.post("/marketing/confirm", {"token": token, "csrfmiddlewaretoken": stranger.cookies["csrftoken"].value},
                            REMOTE_ADDR="203.0.113.50")
    assert confirm.status_code == 200 and 'id="marketing-confirmed"' in confirm.content.decode()
    again = stranger.post("/marketing/confirm", {"token": token, "csrfmiddlewaretoken": stranger.cookies["csrftoken"].value})
    assert again.status_code == 400 and "already used" in again.content.decode()
    consent = browser.user.marketing_consent
    consent.refresh_from_db()
    assert consent.status == "granted" and consent.double_opt_in_ip == "203.0.113.50"
    assert consent.double_opt_in_at is not None


def test_a_token_older_than_seven_days_is_refused(user):
    services.marketing_opt_in_request(user=user, source="test", ip=None)
    raw = token_in(mail.outbox[0])
    MarketingOptInToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(services.OptInTokenInvalid) as refused:
        services.marketing_opt_in_confirm(raw_token=raw, source="test", ip=None)
    assert refused.value.reason == "expired"


def test_the_old_api_opt_in_and_confirm(client_for):
    user, raw_key = api_key_for()
    api = client_for(raw_key)
    response = post_json(api, f"/api/v1/users/{user.pk}/marketing-consent", {}, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 200
    body = response.json()
    assert body["marketing_consent"] is True and body["marketing_double_opt_in"] is False
    assert body["marketing_consent_ip"] == "198.51.100.9"
    token = token_in(mail.outbox[0])
    confirmed = post_json(Client(), "/api/v1/marketing/confirm", {"token": token})
    assert confirmed.status_code == 200 and confirmed.json()["marketing_double_opt_in"] is True
    replay = post_json(Client(), "/api/v1/marketing/confirm", {"token": token})
    assert replay.status_code == 400 and replay.json()["error"] == "token_used"
    assert post_json(Client(), "/api/v1/marketing/confirm", {"token": "nope"}).json()["error"] == "token_unknown"
    shown = api.get(f"/api/v1/users/{user.pk}").json()
    assert shown["marketing_double_opt_in"] is True and shown["marketing_double_opt_in_at"]


def confirmed_user(user):
    services.marketing_opt_in_request(user=user, source="test", ip=None)
    services.marketing_opt_in_confirm(raw_token=token_in(mail.outbox[-1]), source="test", ip=None)
    mail.outbox.clear()
    return user


def test_marketing_emails_carry_an_unsubscribe_link_and_one_click_headers(user):
    assert not services.marketing_email_send(user=user, subject="News", body="Hi")
    assert mail.outbox == []  # never without a confirmed opt-in
    confirmed_user(user)
    assert services.marketing_email_send(user=user, subject="News", body="Hi")
    message = mail.outbox[0]
    link = re.search(r"Unsubscribe: (\S+)", message.body).group(1)
    assert message.extra_headers["List-Unsubscribe"] == f"<{link}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in message.message().as_string()

    # Without signing in: the page asks, the POST unsubscribes, at once.
    anonymous = Client(enforce_csrf_checks=True)
    assert 'id="unsubscribe"' in anonymous.get(link).content.decode()
    assert anonymous.post(link).status_code == 200
    assert not services.marketing_email_send(user=user, subject="More", body="Hi")
    assert MarketingConsentEvent.objects.filter(user=user).first().source == "email_link"


def test_rfc8058_one_click_post_unsubscribes(user):
    confirmed_user(user)
    services.marketing_email_send(user=user, subject="News", body="Hi")
    link = mail.outbox[0].extra_headers["List-Unsubscribe"].strip("<>")
    response = Client(enforce_csrf_checks=True).post(link, "List-Unsubscribe=One-Click",
                                                     content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    last = MarketingConsentEvent.objects.filter(user=user).first()
    assert (last.action, last.source) == ("unsubscribed", "one_click")
    assert Client().post("/marketing/unsubscribe/forged-token").status_code == 404


def test_the_old_unsubscribe_endpoint_takes_effect_at_once(client_for):
    user, raw_key = api_key_for()
    confirmed_user(user)
    response = post_json(client_for(raw_key), f"/api/v1/users/{user.pk}/marketing-unsubscribe", {})
    assert response.status_code == 200
    assert response.json()["marketing_consent"] is False and response.json()["marketing_double_opt_in"] is False
    assert not services.marketing_email_send(user=user, subject="x", body="y")


def test_unsubscribing_kills_outstanding_confirmation_links(user):
    services.marketing_opt_in_request(user=user, source="test", ip=None)
    services.marketing_unsubscribe(user=user, source="test", ip=None)
    with pytest.raises(services.OptInTokenInvalid):
        services.marketing_opt_in_confirm(raw_token=token_in(mail.outbox[0]), source="test", ip=None)


def test_every_change_is_appended_to_the_audit_trail(browser):
    opt_in_from_settings(browser)
    services.marketing_opt_in_confirm(raw_token=token_in(mail.outbox[0]), source="email_link", ip="203.0.113.1",
                                      user_agent="Mail/1")
    token = csrf_from(browser)
    browser.post("/settings/marketing", {"action": "opt_out", "csrfmiddlewaretoken": token})
    opt_in_from_settings(browser)
    events = list(MarketingConsentEvent.objects.filter(user=browser.user).order_by("at", "id")
                  .values_list("action", "source", "ip"))
    assert events == [("requested", "settings", "198.51.100.8"), ("confirmed", "email_link", "203.0.113.1"),
                      ("unsubscribed", "settings", "127.0.0.1"), ("requested", "settings", "198.51.100.8")]
    # Unsubscribing someone not subscribed is no change, and is not logged as one.
    services.marketing_unsubscribe(user=browser.user, source="test", ip=None)
    services.marketing_unsubscribe(user=browser.user, source="test", ip=None)
    assert MarketingConsentEvent.objects.filter(user=browser.user).count() == 5


@override_settings(SITE_URL="https://levqor.example", ALLOWED_HOSTS=["*"])
def test_links_in_marketing_mail_use_the_site_url_not_the_host_asked_on(user):
    # The request came on another name of the server; the mail must link to the site's address,
    # where the person's cookies live (the same rule as sign-in links).
    client = Client(HTTP_HOST="localhost:8000")
    client.force_login(user)
    page = client.get("/settings")
    client.post("/settings/marketing", {"action": "opt_in", "csrfmiddlewaretoken": page.cookies["csrftoken"].value})
    assert link_in(mail.outbox[0]).startswith("https://levqor.example/marketing/confirm?token=")
    services.marketing_opt_in_confirm(raw_token=token_in(mail.outbox[0]), source="test", ip=None)
    assert services.marketing_email_send(user=user, subject="News", body="Hi")
    assert "<https://levqor.example/marketing/unsubscribe/" in mail.outbox[1].extra_headers["List-Unsubscribe"]
