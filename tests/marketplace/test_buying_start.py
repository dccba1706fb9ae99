"""Buying a listing: free ones complete and install at once; paid ones open a payment-mode Stripe
Checkout Session (what the fake Stripe was asked, idempotency key included), reused while open;
refusals; nothing left behind when Stripe fails or billing is off; the API's owner checks and
scopes; the listing page's Buy form."""

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from marketplace import signals
from marketplace.models import Installation, Listing, Order, StripeCustomer
from partners.services.status import partner_status_change
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for
from tests.jobs.support import tasks_drain
from tests.marketplace.store_support import listing_make
from tests.marketplace.support import customer_for

SESSIONS = "/v1/checkout/sessions"


def purchase_url(listing) -> str:
    return f"/api/v1/marketplace/listings/{listing.pk}/purchase"


@pytest.fixture
def completed():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs["order"])

    signals.order_completed.connect(receiver, weak=False)
    yield seen
    signals.order_completed.disconnect(receiver)


@pytest.mark.django_db
def test_a_free_listing_is_bought_installed_and_announced_at_once(api, fake_stripe, fake_server, completed,
                                                                   django_capture_on_commit_callbacks):
    from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint

    listing = listing_make(amount_minor=0)
    WebhookEndpoint.objects.create(owner=listing.partner.owner, audience="partner", url=fake_server.url + "/partner",
                                   event_types=["order.completed"])
    WebhookEndpoint.objects.create(owner=api.user, audience="account", url=fake_server.url + "/buyer",
                                   event_types=["order.completed"])
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(purchase_url(listing))
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get()
    assert body["id"] == str(order.pk) and body["status"] == "completed" and "checkout_url" not in body
    assert (order.amount_minor, order.partner_share_minor, order.platform_fee_minor) == (0, 0, 0)
    assert order.revenue_share == listing.partner.revenue_share and order.completed_at and order.payout_due_at is None
    install = Installation.objects.get(user=api.user, listing=listing)
    assert install.order == order and install.livemode is True
    listing.refresh_from_db()
    assert listing.downloads == 1
    assert completed == [order]
    assert fake_stripe.requests == []  # a free listing never reaches Stripe
    deliveries = WebhookDelivery.objects.filter(event_type="order.completed")
    assert sorted(d.url.rsplit("/", 1)[1] for d in deliveries) == ["buyer", "partner"]
    tasks_drain()
    assert sorted(r["path"] for r in fake_server.requests) == ["/buyer", "/partner"]
    assert str(order.pk).encode() in fake_server.requests[0]["body"]
    # Bought again: it is installed already.
    assert_api_error(api.post(purchase_url(listing)), 409, "already_installed")
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_a_paid_listing_opens_a_payment_checkout_session(api, fake_stripe):
    listing = listing_make(amount_minor=999, currency="eur", name="Summariser")
    before = int(time.time())
    response = api.post(purchase_url(listing))
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get()
    assert body["status"] == "pending" and body["checkout_url"] == order.checkout_url
    assert order.checkout_url.startswith("https://checkout.stripe.test/") and order.checkout_session_id.startswith("cs_")
    assert (order.amount_minor, order.currency, order.livemode, order.buyer) == (999, "eur", True, api.user)
    assert order.revenue_share == listing.partner.revenue_share
    customer = StripeCustomer.objects.get(user=api.user, livemode=True)
    request = fake_stripe.last("POST", SESSIONS)
    assert request["api_key"] == "sk_live_fake_levqor"
    assert request["idempotency_key"] == f"levqor-order-{order.pk}"
    form = request["form"]
    assert form["mode"] == "payment" and form["customer"] == customer.stripe_id
    assert form["line_items"] == [{"quantity": 1, "price_data": {
        "currency": "eur", "unit_amount": 999,
        "product_data": {"name": "Summariser", "metadata": {"listing_id": str(listing.pk)}}}}]
    metadata = {"order_id": str(order.pk), "listing_id": str(listing.pk)}
    assert form["metadata"] == metadata and form["client_reference_id"] == str(api.user.pk)
    assert form["payment_intent_data"] == {"transfer_group": f"order_{order.pk}", "metadata": metadata}
    assert form["success_url"].endswith(f"/marketplace/{listing.slug}?purchase=success&order={order.pk}")
    assert form["cancel_url"].endswith(f"/marketplace/{listing.slug}?purchase=cancelled")
    assert before + 60 * 60 - 5 <= form["expires_at"] <= int(time.time()) + 60 * 60 + 5
    assert not Installation.objects.exists()  # installed only once paid


@pytest.mark.django_db
def test_starting_again_while_the_session_is_open_returns_the_same_order(api, fake_stripe, clock):
    listing = listing_make(amount_minor=500)
    first = api.post(purchase_url(listing)).json()
    second = api.post(purchase_url(listing))
    assert second.status_code == 201 and second.json()["id"] == first["id"]
    assert second.json()["checkout_url"] == first["checkout_url"]
    assert len(fake_stripe.calls("POST", SESSIONS)) == 1 and len(fake_stripe.calls("POST", "/v1/customers")) == 1
    # Once the session has (nearly) run out, a new start makes a new order and session.
    clock.advance(60 * 60)
    third = api.post(purchase_url(listing)).json()
    assert third["id"] != first["id"] and len(fake_stripe.calls("POST", SESSIONS)) == 2


@pytest.mark.django_db
def test_stripe_failing_leaves_no_pending_order_and_the_next_try_works(api, fake_stripe):
    customer_for(api.user)
    listing = listing_make(amount_minor=500)
    fake_stripe.fail_next(3, status=500)  # the SDK retries twice
    assert_api_error(api.post(purchase_url(listing)), 503, "service_unavailable")
    assert not Order.objects.exists()
    fake_stripe.fail_next(1, status=400, code="parameter_invalid")
    assert_api_error(api.post(purchase_url(listing)), 502, "billing_provider_error")
    assert not Order.objects.exists()
    response = api.post(purchase_url(listing))
    assert response.status_code == 201 and Order.objects.get().status == "pending"


@pytest.mark.django_db
def test_a_start_still_waiting_for_stripe_holds_the_next_off(api, fake_stripe):
    customer_for(api.user)
    listing = listing_make(amount_minor=500)
    Order.objects.create(listing=listing, partner=listing.partner, buyer=api.user, amount_minor=500, currency="usd",
                         revenue_share=listing.partner.revenue_share)  # a session being made right now
    assert_api_error(api.post(purchase_url(listing)), 409, "idempotency_in_flight")
    # Left by a crash long ago: expired, and the start goes ahead.
    Order.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    assert api.post(purchase_url(listing)).status_code == 201
    assert sorted(Order.objects.values_list("status", flat=True)) == ["expired", "pending"]


@pytest.mark.django_db
def test_billing_not_configured_is_503_and_stores_nothing(api, settings):
    settings.STRIPE_SECRET_KEY = ""
    listing = listing_make(amount_minor=500)
    body = assert_api_error(api.post(purchase_url(listing)), 503, "billing_not_configured")
    assert body["details"] == {"setting": "STRIPE_SECRET_KEY"}
    assert not Order.objects.exists() and not StripeCustomer.objects.exists()
    # A free listing needs no Stripe.
    assert api.post(purchase_url(listing_make(amount_minor=0))).status_code == 201


@pytest.mark.django_db
def test_only_published_listings_of_approved_partners_are_sold(api, fake_stripe):
    for status in (Listing.Status.PENDING_REVIEW, Listing.Status.REJECTED, Listing.Status.DELISTED):
        assert_api_error(api.post(purchase_url(listing_make(status=status))), 409, "listing_not_available")
    suspended = listing_make(amount_minor=500)
    partner_status_change(partner=suspended.partner, action="suspend", actor=None, reason="test")
    assert_api_error(api.post(purchase_url(suspended)), 409, "listing_not_available")
    assert_api_error(api.post("/api/v1/marketplace/listings/00000000-0000-0000-0000-000000000000/purchase"), 404,
                     "not_found")
    assert_api_error(api.post("/api/v1/marketplace/listings/not-a-uuid/purchase"), 404, "not_found")
    assert not Order.objects.exists() and fake_stripe.requests == []


@pytest.mark.django_db
def test_a_test_mode_key_buys_in_test_mode_and_sees_only_test_orders(fake_stripe, client_for):
    user, live_raw = api_key_for()
    _, test_raw = api_key_for(user, livemode=False)
    listing = listing_make(amount_minor=500)
    response = client_for(test_raw).post(purchase_url(listing))
    assert response.status_code == 201 and response.json()["livemode"] is False
    assert fake_stripe.last("POST", SESSIONS)["api_key"] == "sk_test_fake_levqor"
    assert StripeCustomer.objects.get().livemode is False
    assert client_for(live_raw).get("/api/v1/marketplace/orders").json()["results"] == []
    assert len(client_for(test_raw).get("/api/v1/marketplace/orders").json()["results"]) == 1


@pytest.mark.django_db
def test_orders_are_the_buyers_own(api, fake_stripe, client_for):
    mine = [listing_make(amount_minor=0) for _ in range(3)]
    for listing in mine:
        assert api.post(purchase_url(listing)).status_code == 201
    other, other_raw = api_key_for()
    theirs = client_for(other_raw).post(purchase_url(listing_make(amount_minor=0))).json()
    page = api.get("/api/v1/marketplace/orders?limit=2")
    assert page.status_code == 200
    assert len(page.json()["results"]) == 2 and page.json()["next"]
    rest = api.get(page.json()["next"]).json()["results"]
    ids = {o["id"] for o in page.json()["results"]} | {o["id"] for o in rest}
    assert ids == {str(o.pk) for o in Order.objects.filter(buyer=api.user)} and theirs["id"] not in ids
    one = api.get(f"/api/v1/marketplace/orders/{page.json()['results'][0]['id']}")
    assert one.status_code == 200 and one.json()["listing_slug"] in {listing.slug for listing in mine}
    assert_api_error(api.get(f"/api/v1/marketplace/orders/{theirs['id']}"), 404, "not_found")
    assert_api_error(api.get("/api/v1/marketplace/orders/nope"), 404, "not_found")


@pytest.mark.django_db
def test_the_api_needs_a_key_with_the_marketplace_scopes(fake_stripe, client_for):
    listing = listing_make(amount_minor=0)
    assert_api_error(Client().post(purchase_url(listing)), 401, "not_authenticated")
    _, narrow = api_key_for(scopes=["jobs:read", "jobs:write"])
    assert_api_error(client_for(narrow).post(purchase_url(listing)), 403, "insufficient_scope")
    assert_api_error(client_for(narrow).get("/api/v1/marketplace/orders"), 403, "insufficient_scope")
    _, reader = api_key_for(scopes=["marketplace:read"])
    assert client_for(reader).get("/api/v1/marketplace/orders").status_code == 200
    assert_api_error(client_for(reader).post(purchase_url(listing)), 403, "insufficient_scope")


# --- the listing page's Buy form -------------------------------------------------------------------

def _browser(user) -> tuple[Client, str]:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    token = browser.get("/developer").cookies["csrftoken"].value
    return browser, token


@pytest.mark.django_db
def test_the_buy_form_installs_a_free_listing_and_says_so(fake_stripe):
    user = UserFactory(terms_accepted=True)
    listing = listing_make(amount_minor=0, name="Free summariser")
    browser, token = _browser(user)
    assert browser.post(f"/marketplace/{listing.slug}/buy").status_code == 403  # no CSRF token
    response = browser.post(f"/marketplace/{listing.slug}/buy", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == f"/marketplace/{listing.slug}"
    assert Installation.objects.filter(user=user, listing=listing, uninstalled_at__isnull=True).exists()
    assert b"Free summariser is installed" in browser.get("/developer").content  # the message, on the next page
    # Again: the refusal as a message, not an error page.
    response = browser.post(f"/marketplace/{listing.slug}/buy", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == f"/marketplace/{listing.slug}"
    assert b"installed on this account already" in browser.get("/developer").content


@pytest.mark.django_db
def test_the_buy_form_sends_a_paid_listing_to_stripe_checkout(fake_stripe):
    user = UserFactory(terms_accepted=True)
    listing = listing_make(amount_minor=1500)
    browser, token = _browser(user)
    response = browser.post(f"/marketplace/{listing.slug}/buy", {"csrfmiddlewaretoken": token})
    assert response.status_code == 303
    assert response["Location"] == Order.objects.get(buyer=user).checkout_url
    assert fake_stripe.last("POST", SESSIONS)["form"]["mode"] == "payment"


@pytest.mark.django_db
def test_the_buy_form_refusals_are_messages(settings):
    settings.STRIPE_SECRET_KEY = ""
    user = UserFactory(terms_accepted=True)
    browser, token = _browser(user)
    listing = listing_make(amount_minor=1500)
    response = browser.post(f"/marketplace/{listing.slug}/buy", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == f"/marketplace/{listing.slug}"
    assert b"Billing is not configured here" in browser.get("/developer").content
    response = browser.post("/marketplace/no-such-listing/buy", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/marketplace"
    assert Client().post(f"/marketplace/{listing.slug}/buy").status_code == 302  # to the sign-in page
    assert browser.get(f"/marketplace/{listing.slug}/buy").status_code == 405
