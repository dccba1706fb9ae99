"""Sign-in by email link: one-time, expiring, bound to its address, same answer for unknown
addresses, rate-limited; and the Resend email backend against a fake Resend server."""

import json
import re

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.core import mail
from django.test import Client

from accounts.email import ResendEmailError
from accounts.models import LoginToken, User
from tests.conftest import UNREACHABLE_REDIS_CACHE
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r"(https?://[^/\s]+)/login/confirm\?token=([A-Za-z0-9_\-]+)")


def ask_link(client, email, return_to="", ip="198.51.100.1", **extra):
    return client.post("/login", {"email": email, "returnTo": return_to}, REMOTE_ADDR=ip, **extra)


def last_token(to):
    message = mail.outbox[-1]
    assert message.to == [to]
    match = LINK.search(message.body)
    assert match, message.body
    html = message.alternatives[0][0]
    assert match.group(0) in html
    return match.group(2)


def signed_in_email(client):
    user_id = client.session.get(SESSION_KEY)
    return User.objects.get(pk=user_id).email if user_id else None


def test_link_signs_in_once_and_rotates_the_session():
    user = UserFactory(email="ada@example.com")
    client = Client()
    client.get("/login")
    answer = ask_link(client, "  Ada@Example.com ")
    assert answer.status_code == 200
    assert "a sign-in link was sent" in answer.content.decode()
    token = last_token("ada@example.com")
    assert mail.outbox[-1].subject == "Your Levqor sign-in link"
    assert LINK.search(mail.outbox[-1].body).group(1) == settings.SITE_URL

    page = client.get(f"/login/confirm?token={token}")
    assert page.status_code == 200 and 'id="login-confirm"' in page.content.decode()
    assert signed_in_email(client) is None  # a GET (a mail scanner) signs nobody in and uses nothing up
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None

    done = client.post("/login/confirm", {"token": token})
    assert done.status_code == 302 and done["Location"] == "/dashboard"
    assert signed_in_email(client) == user.email
    assert client.cookies["sessionid"].value != before

    again = Client().post("/login/confirm", {"token": token})
    assert again.status_code == 400 and "not valid" in again.content.decode()
    assert Client().get(f"/login/confirm?token={token}").status_code == 400


def test_only_the_hash_of_the_token_is_stored():
    UserFactory(email="ada@example.com")
    ask_link(Client(), "ada@example.com")
    token = last_token("ada@example.com")
    row = LoginToken.objects.get()
    assert token not in json.dumps([str(v) for v in row.__dict__.values()])
    assert len(row.token_hash) == 64


def test_link_expires_after_fifteen_minutes(clock):
    UserFactory(email="ada@example.com")
    ask_link(Client(), "ada@example.com")
    token = last_token("ada@example.com")
    clock.advance(15 * 60 + 1)
    client = Client()
    assert client.post("/login/confirm", {"token": token}).status_code == 400
    assert signed_in_email(client) is None


def test_link_still_works_just_before_expiry(clock):
    UserFactory(email="ada@example.com")
    ask_link(Client(), "ada@example.com")
    token = last_token("ada@example.com")
    clock.advance(15 * 60 - 5)
    client = Client()
    assert client.post("/login/confirm", {"token": token}).status_code == 302
    assert signed_in_email(client) == "ada@example.com"


def test_link_is_bound_to_its_address():
    UserFactory(email="ada@example.com")
    grace = UserFactory(email="grace@example.com")
    ask_link(Client(), "ada@example.com")
    ada_token = last_token("ada@example.com")
    client = Client()
    client.force_login(grace)
    client.post("/login/confirm", {"token": ada_token})
    assert signed_in_email(client) == "ada@example.com"  # the link's address, whoever opens it
    assert Client().post("/login/confirm", {"token": ada_token[:-1] + "x"}).status_code == 400


def test_unknown_address_gets_the_same_answer_and_no_account_until_the_link_is_used():
    UserFactory(email="known@example.com")
    known = ask_link(Client(), "known@example.com").content.decode()
    unknown = ask_link(Client(), "new@example.com").content.decode()
    # Per-response values (the CSRF token, CSP nonces) aside, the two pages are the same.
    strip = lambda html: re.sub(  # noqa: E731
        r"(known|new)@example\.com|csrfmiddlewaretoken\" value=\"[^\"]+\"|nonce=\"[^\"]+\"", "", html)
    assert strip(known) == strip(unknown)
    assert not User.objects.filter(email="new@example.com").exists()
    token = last_token("new@example.com")
    client = Client()
    client.post("/login/confirm", {"token": token})
    assert signed_in_email(client) == "new@example.com"  # sign-up by link: the mailbox is proven


def test_disabled_account_gets_no_link_but_the_same_page():
    UserFactory(email="gone@example.com", is_active=False)
    answer = ask_link(Client(), "gone@example.com")
    assert answer.status_code == 200 and "a sign-in link was sent" in answer.content.decode()
    assert mail.outbox == []


@pytest.mark.parametrize(("asked", "lands"), [
    ("/developer", "/developer"),
    ("/dashboard?status=failed", "/dashboard?status=failed"),
    ("https://evil.example/", "/dashboard"),
    ("//evil.example/x", "/dashboard"),
    ("/\\evil.example", "/dashboard"),
])
def test_return_to_is_honoured_only_for_same_site_paths(asked, lands):
    UserFactory(email="ada@example.com")
    ask_link(Client(), "ada@example.com", return_to=asked)
    answer = Client().post("/login/confirm", {"token": last_token("ada@example.com")})
    assert answer["Location"] == lands


def test_login_required_pages_send_anonymous_users_to_login_with_next_kept():
    answer = Client().get("/developer")
    assert answer.status_code == 302 and answer["Location"] == "/login?next=/developer"
    page = Client().get("/login?next=/developer").content.decode()
    assert 'name="returnTo" value="/developer"' in page


# (address, IP) of the n-th link asked for: by one address from ever new IPs, or from one IP for
# ever new addresses.
def same_address(n):
    return "ada@example.com", f"198.51.100.{n + 1}"


def same_ip(n):
    return f"user{n}@example.com", "198.51.100.1"


@pytest.mark.parametrize("nth", [same_address, same_ip], ids=["per address across IPs", "per IP across addresses"])
def test_five_links_per_fifteen_minutes(clock, nth):
    for n in range(5):
        email, ip = nth(n)
        assert ask_link(Client(), email, ip=ip).status_code == 200
    email, ip = nth(5)
    refused = ask_link(Client(), email, ip=ip)
    assert refused.status_code == 429
    assert "Too many sign-in links" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert len(mail.outbox) == 5
    # Only the bucket that is full refuses: the same IP for another address, or the same address
    # from another IP, is still answered.
    other = ("grace@example.com", ip) if nth is same_address else (email, "198.51.100.200")
    assert ask_link(Client(), other[0], ip=other[1]).status_code == 200
    clock.advance(15 * 60)
    email, ip = nth(6)
    assert ask_link(Client(), email, ip=ip).status_code == 200  # a new window


def test_logout_is_a_post():
    client = Client()
    client.force_login(UserFactory())
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert signed_in_email(client) is None


# --- Resend ------------------------------------------------------------------------------------

@pytest.fixture
def resend_settings(settings, fake_server):
    settings.EMAIL_BACKEND = "accounts.email.ResendEmailBackend"
    settings.RESEND_API_KEY = "re_test_123"
    settings.RESEND_API_URL = fake_server.url
    settings.DEFAULT_FROM_EMAIL = "Levqor <login@levqor.example>"
    return fake_server


def test_sign_in_mail_goes_through_resend(resend_settings):
    fake = resend_settings
    fake.responses.append((200, {"id": "4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}))
    answer = ask_link(Client(), "ada@example.com")
    assert answer.status_code == 200
    [request] = fake.requests
    assert request["method"] == "POST" and request["path"] == "/emails"
    assert request["headers"]["Authorization"] == "Bearer re_test_123"
    body = json.loads(request["body"])
    assert body["from"] == "Levqor <login@levqor.example>"
    assert body["to"] == ["ada@example.com"]
    assert body["subject"] == "Your Levqor sign-in link"
    token = LINK.search(body["text"]).group(2)
    assert f"/login/confirm?token={token}" in body["html"]
    client = Client()
    client.post("/login/confirm", {"token": token})
    assert signed_in_email(client) == "ada@example.com"


def test_headers_and_reply_to_reach_resend(resend_settings):
    fake = resend_settings
    fake.responses.append((200, {"id": "abc"}))
    message = mail.EmailMultiAlternatives("Hi", "plain", to=["a@example.com"], reply_to=["help@levqor.example"],
                                          headers={"List-Unsubscribe": "<https://levqor.example/u/1>"})
    message.attach_alternative("<p>html</p>", "text/html")
    assert message.send() == 1
    body = json.loads(fake.requests[0]["body"])
    assert body["headers"] == {"List-Unsubscribe": "<https://levqor.example/u/1>"}
    assert body["reply_to"] == ["help@levqor.example"]
    assert (body["text"], body["html"]) == ("plain", "<p>html</p>")


def test_a_resend_error_is_an_error(resend_settings):
    fake = resend_settings
    fake.responses.append((422, {"statusCode": 422, "name": "validation_error",
                                 "message": "The levqor.example domain is not verified."}))
    with pytest.raises(ResendEmailError, match="not verified"):
        mail.send_mail("Hi", "plain", None, ["a@example.com"])


def test_the_login_page_says_when_the_mail_could_not_be_sent(resend_settings):
    resend_settings.responses.append((500, {"statusCode": 500, "name": "internal_server_error", "message": "down"}))
    answer = ask_link(Client(), "ada@example.com")
    assert answer.status_code == 503
    assert "could not send the email" in answer.content.decode()


def test_expired_links_are_purged_by_an_hourly_schedule(clock):
    from django_q.models import Schedule
    from django_q.tasks import async_task

    from accounts.apps import SIGN_IN_LINK_PURGE_SCHEDULE
    from tests.jobs.support import tasks_drain

    schedule = Schedule.objects.get(name=SIGN_IN_LINK_PURGE_SCHEDULE)  # written by migrate
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "accounts.tasks.login_tokens_purge", Schedule.MINUTES, 60)
    ask_link(Client(), "old@example.com")
    clock.advance(16 * 60)
    ask_link(Client(), "fresh@example.com")
    async_task(schedule.func)  # what the cluster's scheduler does when the hour comes
    assert [result for func, _, result in tasks_drain() if func == schedule.func] == [1]
    assert list(LoginToken.objects.values_list("email", flat=True)) == ["fresh@example.com"]


def test_the_link_is_made_from_site_url_whatever_host_the_page_was_asked_on(settings):
    # Cookies are per host name: a link to another name of this server would not find them.
    settings.SITE_URL = "http://127.0.0.1:8123"
    UserFactory(email="ada@example.com")
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert ask_link(Client(), "ada@example.com", HTTP_HOST=host).status_code == 200
        assert LINK.search(mail.outbox[-1].body).group(1) == "http://127.0.0.1:8123"
        assert f"http://127.0.0.1:8123/login/confirm?token={last_token('ada@example.com')}" in mail.outbox[-1].body


def test_sign_in_says_it_is_unavailable_when_its_counters_are_out_of_reach(client, settings):
    # The rate-limit counters live in a Redis that does not answer (nothing listens on port 1):
    # no link may go out unlimited, and the person sees why instead of a server error.
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS_CACHE}
    settings.RATELIMIT_USE_CACHE = "unreachable"
    response = client.post("/login", {"email": "ada@example.com", "returnTo": ""})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "Signing in is unavailable for a moment" in response.content.decode()
    assert not mail.outbox and not LoginToken.objects.exists()
