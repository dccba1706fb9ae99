"""The developer portal's Upgrade button in a real browser: a CSRF-protected form that starts a
Stripe Checkout Session (at the local fake Stripe) and follows the redirect to its URL."""

import pytest
from playwright.sync_api import expect

from marketplace.models import CheckoutSession
from tests.browser.test_pages import answer_banner, sign_in_as
from tests.factories import UserFactory
from tests.marketplace.support import prices_synced

pytestmark = pytest.mark.browser

FAKE_CHECKOUT = ("<!doctype html><html lang=en><head><title>Checkout</title></head>"
                 "<body><h1>Fake Stripe Checkout</h1></body></html>")


@pytest.fixture
def fake_checkout_allowed(settings):
    """The developer page's form-action with the fake's Checkout host in place of Stripe's (the
    production setting lists checkout.stripe.com: tests/marketplace/test_billing_ops.py)."""
    settings.BILLING_FORM_ACTION_ORIGINS = ["https://checkout.stripe.test"]


def test_upgrade_goes_to_stripe_checkout(page, screenshot, live_server, fake_stripe, transactional_db,
                                         fake_checkout_allowed):
    prices_synced()
    user = UserFactory(terms_accepted=True)
    sign_in_as(page.context, live_server, user)
    # checkout.stripe.test is the fake's made-up host: the browser is answered locally there.
    page.route("https://checkout.stripe.test/**",
               lambda route: route.fulfill(status=200, content_type="text/html", body=FAKE_CHECKOUT))
    page.goto("/developer")
    answer_banner(page)
    expect(page.locator("#upgrade-form")).to_be_visible()
    page.select_option("#id_upgrade_tier", "enterprise")
    screenshot("developer-upgrade")
    page.click("#upgrade")
    page.wait_for_url("https://checkout.stripe.test/**")
    session = CheckoutSession.objects.get(user=user)
    assert page.url == session.url and session.tier == "enterprise"
    expect(page.locator("h1")).to_have_text("Fake Stripe Checkout")
    screenshot("checkout")
    sent = fake_stripe.last("POST", "/v1/checkout/sessions")["form"]
    assert sent["client_reference_id"] == str(user.pk) and sent["metadata"]["tier"] == "enterprise"
    # Back from Stripe, the page says so.
    page.goto("/developer?billing=cancelled")
    expect(page.locator("#billing-cancelled")).to_be_visible()


def test_a_refused_upgrade_is_said_on_the_page(page, live_server, fake_stripe, transactional_db):
    user = UserFactory(terms_accepted=True)  # no price synced: the operator has not run the sync
    sign_in_as(page.context, live_server, user)
    page.goto("/developer")
    answer_banner(page)
    page.click("#upgrade")
    page.wait_for_url("**/developer")
    expect(page.locator(".messages")).to_contain_text("stripe_sync_products")


def test_without_the_checkout_host_in_form_action_the_browser_refuses_the_redirect(
        page, live_server, fake_stripe, transactional_db, console):
    """Why BILLING_FORM_ACTION_ORIGINS exists: form-action 'self' alone blocks the redirect."""
    prices_synced()
    sign_in_as(page.context, live_server, UserFactory(terms_accepted=True))
    page.route("https://checkout.stripe.test/**",
               lambda route: route.fulfill(status=200, content_type="text/html", body=FAKE_CHECKOUT))
    page.goto("/developer")
    answer_banner(page)
    with page.expect_console_message(lambda m: "form-action" in m.text):
        page.click("#upgrade")
    assert "checkout.stripe.test" not in page.url
    assert console.csp_violations()
    console.errors.clear()  # the violation is what this test expects
