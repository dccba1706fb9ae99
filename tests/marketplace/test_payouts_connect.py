"""Partners' Stripe Connect onboarding and account.updated: what the fake Stripe was asked (an
Express account once per partner and mode, with its idempotency key; an Account Link each time),
the webhook keeping payouts_enabled current, stale and unknown events changing nothing."""

import time

import pytest

from levqor.errors import AppError
from marketplace.models import ConnectAccount, StripeEvent
from marketplace.services.connect import connect_account_refresh, connect_onboarding_link
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for
from tests.marketplace.payouts_support import account_make, account_updated_event, partner_make
from tests.marketplace.support import deliver

pytestmark = pytest.mark.django_db

ONBOARDING = "/api/v1/marketplace/connect/onboarding"


def test_onboarding_creates_an_express_account_once_and_a_link_each_time(fake_stripe, settings):
    settings.SITE_URL = "https://levqor.example"
    partner = partner_make()
    url = connect_onboarding_link(partner=partner, livemode=True, actor=partner.owner)
    created = fake_stripe.last("POST", "/v1/accounts")
    assert created["idempotency_key"] == f"levqor-connect-account-{partner.pk}-live"
    assert created["api_key"] == "sk_live_fake_levqor"
    form = created["form"]
    assert (form["type"], form["country"], form["email"]) == ("express", settings.CONNECT_ACCOUNT_COUNTRY, partner.email)
    assert form["capabilities"] == {"transfers": {"requested": True}}
    assert form["metadata"] == {"partner_id": str(partner.pk), "levqor_mode": "live"}
    [stripe_account] = fake_stripe.created("accounts")
    account = ConnectAccount.objects.get()
    assert (account.partner, account.livemode, account.stripe_account_id) == (partner, True, stripe_account["id"])
    assert account.payouts_enabled is False
    link = fake_stripe.last("POST", "/v1/account_links")["form"]
    assert link == {"account": stripe_account["id"], "type": "account_onboarding",
                    "refresh_url": "https://levqor.example/partners?payouts=refresh",
                    "return_url": "https://levqor.example/partners/payouts/return"}
    assert url == fake_stripe.created("account_links")[-1]["url"]
    # The second click (onboarding not finished) reuses the account: only a new link.
    again = connect_onboarding_link(partner=partner, livemode=True, actor=partner.owner)
    assert len(fake_stripe.calls("POST", "/v1/accounts")) == 1 and ConnectAccount.objects.count() == 1
    assert len(fake_stripe.calls("POST", "/v1/account_links")) == 2 and again != url


def test_an_account_stored_nowhere_after_a_lost_answer_is_the_same_account_on_retry(fake_stripe):
    """Stripe made the account but our row was not stored (the answer lost): the retry's same
    idempotency key gets the same account from Stripe, so the partner never has two."""
    partner = partner_make()
    connect_onboarding_link(partner=partner, livemode=True, actor=partner.owner)
    ConnectAccount.objects.all().delete()
    connect_onboarding_link(partner=partner, livemode=True, actor=partner.owner)
    assert len(fake_stripe.created("accounts")) == 1
    assert ConnectAccount.objects.get().stripe_account_id == fake_stripe.created("accounts")[0]["id"]
    keys = {r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/accounts")}
    assert keys == {f"levqor-connect-account-{partner.pk}-live"}


def test_test_mode_has_its_own_account_and_key(fake_stripe):
    partner = partner_make()
    connect_onboarding_link(partner=partner, livemode=False, actor=partner.owner)
    sent = fake_stripe.last("POST", "/v1/accounts")
    assert sent["api_key"] == "sk_test_fake_levqor"
    assert sent["idempotency_key"] == f"levqor-connect-account-{partner.pk}-test"
    assert ConnectAccount.objects.get().livemode is False


@pytest.mark.parametrize("case", ["not_owner", "suspended", "pending"])
def test_only_an_approved_partners_owner_onboards(fake_stripe, case):
    partner = partner_make(status={"suspended": "suspended", "pending": "pending_approval"}.get(case, "approved"))
    actor = UserFactory() if case == "not_owner" else partner.owner
    with pytest.raises(AppError) as refused:
        connect_onboarding_link(partner=partner, livemode=True, actor=actor)
    assert refused.value.code == ("permission_denied" if case == "not_owner" else "partner_not_approved")
    assert fake_stripe.requests == [] and not ConnectAccount.objects.exists()


def test_not_configured_is_503(settings, db):
    settings.STRIPE_SECRET_KEY = ""
    partner = partner_make()
    with pytest.raises(AppError) as refused:
        connect_onboarding_link(partner=partner, livemode=True, actor=partner.owner)
    assert (refused.value.code, refused.value.status) == ("billing_not_configured", 503)


def test_the_api_answers_the_link_for_the_owners_key(fake_stripe, client_for):
    partner = partner_make()
    _, raw = api_key_for(partner.owner)
    response = client_for(raw).post(ONBOARDING)
    assert response.status_code == 200, response.content
    assert response.json() == {"url": fake_stripe.created("account_links")[-1]["url"]}
    # A user without a partner: 404, nothing asked of Stripe.
    fake_stripe.requests.clear()
    _, other = api_key_for()
    assert_api_error(client_for(other).post(ONBOARDING), 404, "not_found")
    assert fake_stripe.requests == []


def test_account_updated_through_the_webhook_enables_payouts_and_a_stale_one_changes_nothing(fake_stripe, capture):
    partner = partner_make()
    account = account_make(partner, payouts_enabled=False)
    now = int(time.time())
    first = account_updated_event(account.stripe_account_id, payouts_enabled=False,
                                  currently_due=["external_account", "tos_acceptance.date"], created=now - 100)
    deliver(first, capture)
    account.refresh_from_db()
    assert account.payouts_enabled is False
    assert account.requirements_due == ["external_account", "tos_acceptance.date"]
    assert StripeEvent.objects.get(pk=first["id"]).status == "processed"
    done = account_updated_event(account.stripe_account_id, payouts_enabled=True, created=now)
    deliver(done, capture)
    account.refresh_from_db()
    assert (account.payouts_enabled, account.charges_enabled, account.details_submitted) == (True, True, True)
    assert account.requirements_due == [] and account.event_created == now
    # Stripe delivers an older event late: nothing moves back.
    late = account_updated_event(account.stripe_account_id, payouts_enabled=False, currently_due=["x"],
                                 created=now - 50)
    deliver(late, capture)
    account.refresh_from_db()
    assert account.payouts_enabled is True and account.requirements_due == []
    stored = StripeEvent.objects.get(pk=late["id"])
    assert stored.status == "processed" and stored.note.startswith("stale")


def test_account_updated_of_an_unknown_account_is_ignored_with_a_note(fake_stripe, capture):
    event = account_updated_event("acct_not_ours", payouts_enabled=True)
    deliver(event, capture)
    stored = StripeEvent.objects.get(pk=event["id"])
    assert stored.status == "ignored" and "acct_not_ours" in stored.note


def test_refresh_asks_stripe_and_a_later_older_event_does_not_undo_it(fake_stripe, capture):
    partner = partner_make()
    account = account_make(partner, payouts_enabled=False, fake=fake_stripe)
    fake_stripe.get("accounts", account.stripe_account_id).update(
        payouts_enabled=True, requirements={"currently_due": []})
    account = connect_account_refresh(account=account)
    assert account.payouts_enabled is True
    assert fake_stripe.last("GET", f"/v1/accounts/{account.stripe_account_id}")["api_key"] == "sk_live_fake_levqor"
    deliver(account_updated_event(account.stripe_account_id, payouts_enabled=False,
                                  created=int(time.time()) - 60), capture)
    account.refresh_from_db()
    assert account.payouts_enabled is True
