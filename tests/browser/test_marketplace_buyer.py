"""A buyer's path through the marketplace in a real browser: find a module in /marketplace, install
a free one, run it from the workflow page against a local partner server, review it; buy a paid one
through Stripe Checkout (the local fake Stripe; Stripe's checkout.session.completed delivered to
the real webhook endpoint) and find it installed when back. Screenshots of each step."""

import json

import pytest
from playwright.sync_api import expect

from jobs.execution import job_run_next
from jobs.models import Job
from marketplace.models import Installation, ListingReview, Order
from tests.browser.test_pages import answer_banner, sign_in_as
from tests.factories import UserFactory
from tests.marketplace.buying_support import deliver, intent_with_charge, session_completed
from tests.marketplace.store_support import listing_make
from tests.webhook_receiver import received_verifies

pytestmark = pytest.mark.browser

FAKE_CHECKOUT = ("<!doctype html><html lang=en><head><title>Checkout</title></head>"
                 "<body><h1>Fake Stripe Checkout</h1></body></html>")


@pytest.fixture
def fake_checkout_allowed(settings):
    """The listing page's form-action with the fake's Checkout host in place of Stripe's."""
    settings.BILLING_FORM_ACTION_ORIGINS = ["https://checkout.stripe.test"]


def test_a_buyer_installs_runs_reviews_and_buys(page, screenshot, live_server, fake_stripe, fake_server,
                                               transactional_db, fake_checkout_allowed,
                                               django_capture_on_commit_callbacks):
    free = listing_make(name="Text Summariser", slug="text-summariser", endpoint=f"{fake_server.url}/run")
    paid = listing_make(name="Invoice Reader", slug="invoice-reader", amount_minor=999, partner=free.partner)
    buyer = UserFactory(terms_accepted=True)
    sign_in_as(page.context, live_server, buyer)

    # The catalogue: both modules; a search narrows it to one.
    page.goto("/marketplace")
    answer_banner(page)
    expect(page.locator("#listing-text-summariser")).to_be_visible()
    expect(page.locator("#listing-invoice-reader")).to_be_visible()
    screenshot("catalog")
    page.fill("#id_q", "summariser")
    page.locator("#catalog-search button").click()
    expect(page.locator("#listing-invoice-reader")).to_have_count(0)
    page.locator("#listing-text-summariser a").first.click()
    page.wait_for_url("**/marketplace/text-summariser")

    # Install the free one: at once, no payment.
    expect(page.locator("#listing-price")).to_have_text("Free")
    screenshot("free-listing")
    page.click("#buy")
    expect(page.locator("#installed")).to_be_visible()
    expect(page.locator("#installed")).to_contain_text("partner.text-summariser")
    screenshot("installed")
    assert Installation.objects.filter(user=buyer, listing=free, uninstalled_at__isnull=True).count() == 1

    # Run it from the workflow page: the partner's server answers, the job has its answer.
    fake_server.responses.append((200, lambda request: {"summary": "Short.",
                                                        "verified": received_verifies(request, free.secret)}))
    page.goto("/workflow")
    section = page.locator("#workflow-partnertext-summariser")
    expect(section).to_be_visible()
    section.locator("textarea").fill(json.dumps({"text": "A long text to summarise."}))
    screenshot("workflow-page")
    section.locator("button.submit-job").click()
    page.wait_for_url("**/dashboard/jobs/*")
    job = Job.objects.get(owner=buyer)
    assert job.workflow == "partner.text-summariser" and job.livemode
    with django_capture_on_commit_callbacks(execute=True):
        assert job_run_next() is not None
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result == {"summary": "Short.", "verified": True}
    sent = json.loads(fake_server.requests[-1]["body"])
    assert sent["payload"] == {"text": "A long text to summarise."} and sent["job_id"] == str(job.pk)
    page.reload()
    expect(page.locator("main")).to_contain_text("succeeded")
    screenshot("job-succeeded")

    # Review it once: the rating shows on the listing.
    page.goto("/marketplace/text-summariser")
    page.check("#review-form input[name=stars][value='5']")
    page.fill("#id_body", "Saves me an hour a day.")
    page.click("#review-send")
    expect(page.locator("#reviewed")).to_be_visible()
    expect(page.locator("#reviews")).to_contain_text("Saves me an hour a day.")
    expect(page.locator("#listing-rating")).to_contain_text("5")
    screenshot("reviewed")
    assert ListingReview.objects.get(user=buyer, listing=free).stars == 5

    # Buy the paid one: Stripe Checkout (the fake), then Stripe's event completes the order.
    page.route("https://checkout.stripe.test/**",
               lambda route: route.fulfill(status=200, content_type="text/html", body=FAKE_CHECKOUT))
    page.goto("/marketplace/invoice-reader")
    expect(page.locator("#listing-price")).to_have_text("$9.99")
    expect(page.locator("#buy")).to_contain_text("9.99")
    screenshot("paid-listing")
    page.click("#buy")
    page.wait_for_url("https://checkout.stripe.test/**")
    order = Order.objects.get(buyer=buyer, listing=paid)
    assert order.status == Order.Status.PENDING and page.url == order.checkout_url
    sent = fake_stripe.last("POST", "/v1/checkout/sessions")["form"]
    assert sent["mode"] == "payment" and sent["metadata"]["order_id"] == str(order.pk)
    screenshot("checkout")
    page.goto("/marketplace/invoice-reader")
    expect(page.locator("#payment-pending")).to_be_visible()
    screenshot("payment-pending")

    intent = intent_with_charge(fake_stripe, order)
    deliver(session_completed(order, intent_id=intent["id"]), django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == Order.Status.COMPLETED
    assert (order.partner_share_minor, order.platform_fee_minor) == (699, 300)
    page.goto(f"/marketplace/invoice-reader?purchase=success&order={order.pk}")
    expect(page.locator("#installed")).to_contain_text("partner.invoice-reader")
    screenshot("paid-installed")

    # Uninstall the free one: its workflow is gone from the workflow page.
    page.goto("/marketplace/text-summariser")
    page.locator("#uninstall-form button").click()
    expect(page.locator("#buy")).to_be_visible()
    page.goto("/workflow")
    expect(page.locator("#workflow-partnertext-summariser")).to_have_count(0)
    expect(page.locator("#workflow-partnerinvoice-reader")).to_be_visible()
    screenshot("after-uninstall")
