"""Issue 4's pages in a real browser, against the contract the pages are built to: the cookie
banner, magic-link sign-in through the terms interstitial to the dashboard, the developer
portal's one-time key, and no CSP violation on any page. Every test also fails on any console
error (tests/browser/conftest.py). Screenshots of the main pages go to test-artifacts/.

Models of the compliance app are reached through django.apps, by name; a page that breaks the
contract fails."""

import json
import re
from urllib.parse import unquote, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = pytest.mark.browser

CONSENT_COOKIE = "levqor_consent"
OPTIONAL = ("functional", "analytics", "marketing")
TERMS_TEXT = "Levqor terms of service, version 2025-11-14. You may run automation jobs within your quota."


def consent_model():
    return apps.get_model("compliance", "ConsentRecord")


def publish_terms():
    """The terms in force, with a text this module knows. A fresh install ships version 2025-11-14
    (a data migration; gone after a transactional test's flush, so made here when missing)."""
    version, _ = apps.get_model("compliance", "TermsVersion").objects.update_or_create(
        version="2025-11-14", defaults={"published_at": timezone.now(), "text": TERMS_TEXT})
    return version


# --- reading the consent choice -------------------------------------------------------------

def cookie_choices(context):
    """The optional categories in the levqor_consent cookie: URL-encoded JSON {"v", "id", "c"}."""
    cookies = {c["name"]: c for c in context.cookies()}
    assert CONSENT_COOKIE in cookies, f"no {CONSENT_COOKIE} cookie; the browser has {sorted(cookies)}"
    data = json.loads(unquote(cookies[CONSENT_COOKIE]["value"]))
    choices = {name: data["c"][name] for name in OPTIONAL}
    assert all(isinstance(value, bool) for value in choices.values()), data
    return choices


def record_choices(record):
    """The optional categories of a consent log row (its choices JSON)."""
    choices = {name: record.choices[name] for name in OPTIONAL}
    assert all(isinstance(value, bool) for value in choices.values()) and record.choices["necessary"] is True
    return choices


def decide(page, selector):
    """Click a banner button that records a decision, and wait for the server's answer to it
    (the POST that writes the consent log), so the database can be read right after."""
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(page.url))
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.startswith(origin)) as answer:
        page.click(selector)
    assert answer.value.status < 400, f"recording the consent answered {answer.value.status}"


def answer_banner(page):
    """Decide on the banner first, as a visitor does, so it covers nothing the test clicks next."""
    if page.locator("#cookie-banner").is_visible():
        decide(page, "#cookie-reject-all")
        expect(page.locator("#cookie-banner")).to_be_hidden()


def said(page, *, email=""):
    """What a page tells the visitor: its main content and any flash messages, with the address
    they typed put aside (a page may repeat it), whitespace normalised."""
    text = " ".join(page.locator("main, .messages").all_text_contents())
    if email:
        text = text.replace(email, "<email>")
    return " ".join(text.split())


def shown_value(locator):
    """The text of an element, or the value of an input or textarea (a key shown for copying)."""
    tag = locator.evaluate("e => e.tagName").lower()
    return (locator.input_value() if tag in {"input", "textarea"} else locator.text_content()).strip()


# --- signing in -------------------------------------------------------------------------------

def sign_in_as(context, live_server, user):
    """A session for `user` in the browser, made by Django's test client (for tests about what a
    signed-in user sees; the sign-in pages themselves are tested through the email link)."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url,
                          "httpOnly": True, "secure": settings.SESSION_COOKIE_SECURE}])


def accept_terms_if_asked(page):
    if "/legal/accept-terms" in page.url:
        answer_banner(page)
        page.click("#accept-terms")
        page.wait_for_url(lambda url: "/legal/accept-terms" not in url)


def sign_in_link(address):
    for message in reversed(mail.outbox):
        if address in message.to:
            bodies = [message.body] + [content for content, _ in getattr(message, "alternatives", [])]
            for body in bodies:
                match = re.search(r"https?://[^\s\"'<>]+/login/confirm\?token=[^\s\"'<>]+", body)
                if match:
                    return match.group(0).replace("&amp;", "&")
            raise AssertionError(f"the sign-in email has no /login/confirm?token= link:\n{message.body}")
    raise AssertionError(f"no email to {address}; outbox: {[m.to for m in mail.outbox]}")


# --- the cookie banner ------------------------------------------------------------------------

def test_the_cookie_banner_appears_on_the_first_visit(page, screenshot):
    page.goto("/login")

    expect(page.locator("#cookie-banner")).to_be_visible()
    for button in ("#cookie-accept-all", "#cookie-reject-all", "#cookie-customise"):
        expect(page.locator(button)).to_be_visible()
    # Nothing is decided, so nothing records a decision yet.
    assert CONSENT_COOKIE not in {c["name"] for c in page.context.cookies()}
    screenshot("banner-open")


def test_reject_all_hides_the_banner_and_records_everything_optional_refused(page):
    records = consent_model().objects
    before = records.count()
    page.goto("/login")

    decide(page, "#cookie-reject-all")

    expect(page.locator("#cookie-banner")).to_be_hidden()
    assert cookie_choices(page.context) == {"functional": False, "analytics": False, "marketing": False}
    assert records.count() == before + 1
    assert record_choices(records.order_by("-pk").first()) == {"functional": False, "analytics": False, "marketing": False}
    page.reload()
    expect(page.locator("#cookie-banner")).to_be_hidden()  # decided: not asked again


def test_customise_saves_the_chosen_categories(page, screenshot):
    records = consent_model().objects
    before = records.count()
    page.goto("/login")

    page.click("#cookie-customise")
    for name in OPTIONAL:
        expect(page.locator(f"input[name={name}]")).to_be_visible()
    page.check("input[name=functional]")
    page.check("input[name=analytics]")
    page.uncheck("input[name=marketing]")
    screenshot("customise")
    decide(page, "#cookie-save")

    expect(page.locator("#cookie-banner")).to_be_hidden()
    assert cookie_choices(page.context) == {"functional": True, "analytics": True, "marketing": False}
    assert records.count() == before + 1
    assert record_choices(records.order_by("-pk").first()) == {"functional": True, "analytics": True, "marketing": False}


def test_cookie_settings_in_the_footer_reopens_the_banner_to_change_the_choice(page, screenshot):
    records = consent_model().objects
    page.goto("/login")
    decide(page, "#cookie-accept-all")
    expect(page.locator("#cookie-banner")).to_be_hidden()
    assert cookie_choices(page.context) == {"functional": True, "analytics": True, "marketing": True}

    page.click("#cookie-settings")
    expect(page.locator("#cookie-banner")).to_be_visible()
    screenshot("banner-reopened")
    decide(page, "#cookie-reject-all")  # withdrawn as easily as it was given

    expect(page.locator("#cookie-banner")).to_be_hidden()
    assert cookie_choices(page.context) == {"functional": False, "analytics": False, "marketing": False}
    assert [record_choices(r)["marketing"] for r in records.order_by("pk")][-2:] == [True, False]


# --- sign-in, terms, dashboard -----------------------------------------------------------------

def test_sign_in_with_the_emailed_link_then_accept_the_terms_then_the_dashboard(page, screenshot):
    publish_terms()
    user = UserFactory(email="ada@example.com")
    page.goto("/login")
    answer_banner(page)
    screenshot("login")

    # An unknown address gets the same answer as a known one.
    page.fill("input[name=email]", "nobody-here@example.com")
    page.click("#login-submit")
    expect(page.locator("body")).to_contain_text(re.compile("sent", re.I))
    answer_unknown = said(page, email="nobody-here@example.com")
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.click("#login-submit")
    expect(page.locator("body")).to_contain_text(re.compile("sent", re.I))
    assert said(page, email=user.email) == answer_unknown

    link = sign_in_link(user.email)
    parts = urlsplit(link)
    page.goto(f"{parts.path}?{parts.query}")  # the link's own host may be the configured site's
    screenshot("login-confirm")
    page.click("#login-confirm")

    page.wait_for_url(re.compile(r"/legal/accept-terms\?returnTo=(/|%2F)dashboard"))
    expect(page.locator("main")).to_contain_text(TERMS_TEXT)
    screenshot("accept-terms")
    page.click("#accept-terms")

    page.wait_for_url(re.compile(r"/dashboard$"))
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    expect(page.locator("#jobs-table")).to_be_visible()
    screenshot("dashboard")


def test_accept_terms_sends_back_only_to_paths_of_this_site(page, live_server):
    publish_terms()
    sign_in_as(page.context, live_server, UserFactory())
    page.goto("/legal/accept-terms?returnTo=https://evil.example/steal")

    answer_banner(page)
    page.click("#accept-terms")

    page.wait_for_url(lambda url: "/legal/accept-terms" not in url)
    assert page.url.startswith(live_server.url + "/"), page.url


# --- the developer portal ---------------------------------------------------------------------

def test_a_developer_creates_a_key_and_sees_it_once(page, live_server, screenshot):
    publish_terms()
    sign_in_as(page.context, live_server, UserFactory())
    page.goto("/developer")
    accept_terms_if_asked(page)
    page.wait_for_url(re.compile(r"/developer$"))
    answer_banner(page)

    form = page.locator("form").filter(has=page.locator("#create-key"))
    form.locator("input[name=name]").fill("ci deploy")
    page.click("#create-key")

    raw_key = shown_value(page.locator("#new-key"))
    assert raw_key.startswith("lvk_"), raw_key
    table = page.locator("#keys-table")
    expect(table).to_contain_text("ci deploy")
    screenshot("developer-new-key")
    # The key shown works against the API.
    usage = page.request.get("/api/v1/usage", headers={"X-Api-Key": raw_key})
    assert usage.status == 200, usage.text()

    page.reload()  # the create form's answer was a redirect: this GETs /developer again, sends nothing
    expect(page.locator("#keys-table")).to_contain_text("ci deploy")
    assert page.locator("#new-key").count() == 0 or not page.locator("#new-key").is_visible()
    assert raw_key not in page.content()
    assert page.locator("#keys-table tr[data-key-id]").count() == 1  # one key made, not one per reload
    screenshot("developer")


# --- every page: no CSP violation, no console error --------------------------------------------

def test_the_main_pages_show_no_csp_violation(page, console, live_server, screenshot):
    publish_terms()
    page.goto("/")
    screenshot("home")
    page.goto("/login")
    decide(page, "#cookie-accept-all")  # scripts that load only with consent run too

    sign_in_as(page.context, live_server, UserFactory())
    page.goto("/dashboard")
    accept_terms_if_asked(page)
    for path, step in (("/dashboard", "dashboard"), ("/developer", "developer"), ("/settings", "settings")):
        response = page.goto(path)
        assert response.status == 200, f"{path} answered {response.status}"
        screenshot(step)
        assert not console.csp_violations(), f"{path}: {console.csp_violations()}"
