"""What people see of payouts: the Payouts section of /partners (status, the onboarding button and
its 303 to Stripe, the return from Stripe, history and held orders), the partner API, and admin
(Connect accounts, payouts, the retry action, the orders due and why they are held)."""

import pytest
from django.conf import settings
from django.test import Client

from marketplace.models import ConnectAccount, Payout
from marketplace.services.payouts import payouts_run
from partners.services.credentials import credential_create
from partners.services.status import partner_status_change
from tests.api_asserts import assert_api_error
from tests.factories import api_key_for
from tests.marketplace.payouts_support import account_make, order_make, partner_make
from tests.partners.signed_support import signed_request

pytestmark = pytest.mark.django_db

HOLD = settings.PAYOUT_HOLD_DAYS * 86400
PAYOUTS = "/api/v1/marketplace/payouts"


def _browser(partner) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(partner.owner)
    return client


def _page(client) -> str:
    response = client.get("/partners")
    assert response.status_code == 200
    return response.content.decode()


def test_the_section_offers_set_up_and_the_button_redirects_to_stripes_onboarding(fake_stripe):
    partner = partner_make()
    client = _browser(partner)
    response = client.get("/partners")
    page = response.content.decode()
    assert 'id="partner-payouts"' in page and 'data-connect-status="not_connected"' in page
    assert "Set up payouts" in page and 'action="/partners/payouts/onboard"' in page
    assert "https://connect.stripe.com" in response["Content-Security-Policy"].split("form-action")[1].split(";")[0]
    answer = client.post("/partners/payouts/onboard")
    assert answer.status_code == 303
    assert answer["Location"] == fake_stripe.created("account_links")[-1]["url"]
    assert fake_stripe.last("POST", "/v1/accounts")["idempotency_key"] == f"levqor-connect-account-{partner.pk}-live"
    page = _page(client)
    assert 'data-connect-status="onboarding"' in page and "Continue onboarding" in page


def test_the_onboarding_button_needs_csrf_and_a_post(fake_stripe):
    partner = partner_make()
    client = Client(enforce_csrf_checks=True)
    client.force_login(partner.owner)
    assert client.post("/partners/payouts/onboard").status_code == 403
    assert client.get("/partners/payouts/onboard").status_code == 405
    assert fake_stripe.requests == []


def test_a_suspended_partner_sees_why_and_no_button(fake_stripe):
    partner = partner_make(status="suspended")
    page = _page(_browser(partner))
    assert 'id="payouts-suspended"' in page and 'id="payouts-onboard"' not in page
    answer = _browser(partner).post("/partners/payouts/onboard", follow=True)
    assert "approved" in answer.content.decode() and fake_stripe.requests == []


def test_the_return_from_stripe_asks_for_the_account_and_says_what_is_missing(fake_stripe):
    partner = partner_make()
    client = _browser(partner)
    client.post("/partners/payouts/onboard")
    account = ConnectAccount.objects.get()
    fake_stripe.get("accounts", account.stripe_account_id)["requirements"] = {"currently_due": ["external_account"]}
    answer = client.get("/partners/payouts/return", follow=True)
    assert answer.redirect_chain == [("/partners", 302)]
    page = answer.content.decode()
    assert "Stripe still needs: external_account" in page and 'data-connect-status="onboarding"' in page
    fake_stripe.get("accounts", account.stripe_account_id).update(payouts_enabled=True,
                                                                   requirements={"currently_due": []})
    page = client.get("/partners/payouts/return", follow=True).content.decode()
    assert "Payouts are enabled" in page and 'data-connect-status="payouts_enabled"' in page
    assert 'id="payouts-onboard"' not in page


def test_history_and_orders_held_or_due_are_shown(fake_stripe, clock):
    partner = partner_make()
    account = account_make(partner, fake=fake_stripe)
    paid = order_make(partner=partner)
    clock.advance(HOLD + 1)
    payouts_run()
    later = order_make(partner=partner)
    page = _page(_browser(partner))
    transfer = Payout.objects.get().stripe_transfer_id
    assert str(paid.pk) in page and transfer in page and "7.00 USD" in page
    assert str(later.pk) in page and "in the hold period" in page
    clock.advance(HOLD + 1)
    account.payouts_enabled = False
    account.save()
    assert "held: payouts not enabled" in _page(_browser(partner))


def test_the_api_lists_the_partners_payouts_for_the_owners_key_and_a_signed_request(fake_stripe, clock, client_for):
    partner = partner_make()
    account_make(partner, fake=fake_stripe)
    order = order_make(partner=partner)
    clock.advance(HOLD + 1)
    payouts_run()
    waiting = order_make(partner=partner)
    _, raw = api_key_for(partner.owner)
    response = client_for(raw).get(PAYOUTS)
    assert response.status_code == 200, response.content
    body = response.json()
    [payout] = body["results"]
    assert (payout["order_id"], payout["status"], payout["amount_minor"]) == (str(order.pk), "paid", 700)
    assert payout["stripe_transfer_id"] == fake_stripe.created("transfers")[0]["id"]
    assert body["connect"]["status"] == "payouts_enabled" and body["connect"]["held"] is None
    assert [(a["order_id"], a["state"]) for a in body["awaiting"]] == [(str(waiting.pk), "hold")]
    # The partner's own systems, signed with a partner credential: the same list.
    created = credential_create(partner=partner, name="ci", actor=partner.owner)
    signed = signed_request(None, "GET", PAYOUTS, key_id=created.credential.key_id, secret=created.secret)
    assert signed.status_code == 200, signed.content
    assert [p["order_id"] for p in signed.json()["results"]] == [str(order.pk)]
    # A test-mode key sees test mode only; someone without a partner is told so.
    _, test_raw = api_key_for(partner.owner, livemode=False)
    assert client_for(test_raw).get(PAYOUTS).json()["results"] == []
    _, other = api_key_for()
    assert_api_error(client_for(other).get(PAYOUTS), 404, "not_found")


def test_admin_pages_render_and_show_held_orders_and_why(operator, fake_stripe, clock):
    enabled = partner_make(name="Acme Enabled")
    account_make(enabled, fake=fake_stripe)
    order_make(partner=enabled)
    not_enabled = partner_make(name="Acme Onboarding")
    account_make(not_enabled, payouts_enabled=False, fake=fake_stripe)
    order_make(partner=not_enabled)
    no_account = partner_make(name="Acme Nothing")
    order_make(partner=no_account)
    suspended = partner_make(name="Acme Suspended")
    account_make(suspended, fake=fake_stripe)
    order_make(partner=suspended)
    partner_status_change(partner=suspended, action="suspend", actor=None, reason="Reports")
    clock.advance(HOLD + 1)
    page = operator.get("/admin/marketplace/payout/due/").content.decode()
    for name, why in [("Acme Onboarding", "held: payouts not enabled"), ("Acme Nothing", "held: no Stripe account"),
                      ("Acme Suspended", "held: partner suspended"), ("Acme Enabled", "to be paid by the next run")]:
        row = page.split(name)[1].split("</tr>")[0]
        assert why in row, (name, row)
    fake_stripe.fail_next(1, status=400, code="account_invalid")
    payouts_run()
    assert operator.get("/admin/marketplace/connectaccount/").status_code == 200
    listing = operator.get("/admin/marketplace/payout/?status=failed")
    assert listing.status_code == 200 and "account_invalid" in listing.content.decode()
    assert "Orders due (held and why)" in listing.content.decode()
    payout = Payout.objects.get()
    assert operator.get(f"/admin/marketplace/payout/{payout.pk}/change/").status_code == 200
    assert operator.get(f"/admin/marketplace/payout/?q={payout.order_id}").status_code == 200
    answer = operator.post("/admin/marketplace/payout/", {"action": "retry_failed", "_selected_action": [payout.pk]},
                           follow=True)
    assert "1 of 1 failed payout(s) paid now" in answer.content.decode()
    payout.refresh_from_db()
    assert payout.status == "paid"
    keys = [r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/transfers")]
    assert keys == [f"payout-{payout.order_id}", f"payout-{payout.order_id}-2"]  # a refusal is kept for its key
