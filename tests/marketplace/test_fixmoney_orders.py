"""Two sessions of one purchase (review finding 6): a new Checkout Session expires the buyer's
older one that is still open at Stripe, so both cannot be paid; when both were paid anyway, the
second completion says so (the event's note, a warning) instead of passing silently."""

import pytest

from marketplace.models import Installation, Order, StripeEvent
from marketplace.services.orders import order_start
from tests.factories import UserFactory
from tests.marketplace.buying_support import deliver, intent_with_charge, session_completed
from tests.marketplace.store_support import listing_make
from tests.marketplace.support import customer_for

SESSIONS = "/v1/checkout/sessions"


@pytest.fixture
def buyer(db, fake_stripe):
    user = UserFactory(terms_accepted=True)
    customer_for(user, livemode=True)
    return user


def test_a_new_session_expires_the_older_one_still_open(buyer, fake_stripe, clock):
    listing = listing_make(amount_minor=500)
    first = order_start(buyer=buyer, listing=listing, livemode=True)
    clock.advance(56 * 60)  # open at Stripe for 4 more minutes: too close to its end to be offered again
    second = order_start(buyer=buyer, listing=listing, livemode=True)
    assert second.pk != first.pk and len(fake_stripe.calls("POST", SESSIONS)) == 2
    assert fake_stripe.last("POST", f"{SESSIONS}/{first.checkout_session_id}/expire")
    assert fake_stripe.get("checkout/sessions", first.checkout_session_id)["status"] == "expired"
    assert Order.objects.get(pk=first.pk).status == "expired"


def test_stripe_out_of_reach_makes_no_second_session(buyer, fake_stripe, clock):
    listing = listing_make(amount_minor=500)
    first = order_start(buyer=buyer, listing=listing, livemode=True)
    clock.advance(56 * 60)
    fake_stripe.fail_next(3, status=503)
    with pytest.raises(Exception) as error:
        order_start(buyer=buyer, listing=listing, livemode=True)
    assert getattr(error.value, "code", "") == "service_unavailable"
    assert list(Order.objects.values_list("pk", "status")) == [(first.pk, "pending")]
    assert len(fake_stripe.calls("POST", SESSIONS)) == 1


def test_both_sessions_paid_the_second_completion_says_so(buyer, fake_stripe, clock, capture):
    listing = listing_make(amount_minor=500)
    first = order_start(buyer=buyer, listing=listing, livemode=True)
    fake_stripe.get("checkout/sessions", first.checkout_session_id)["status"] = "complete"  # paid meanwhile
    clock.advance(56 * 60)
    second = order_start(buyer=buyer, listing=listing, livemode=True)
    assert Order.objects.get(pk=first.pk).status == "pending"  # Stripe would not expire it: its event completes it
    for order in (first, second):
        intent = intent_with_charge(fake_stripe, order, charge_id=f"ch_{order.pk.hex[:10]}")
        event = session_completed(order, intent_id=intent["id"])
        deliver(event, capture)
    note = StripeEvent.objects.get(pk=event["id"]).note
    assert f"installed already by order {first.pk}" in note and "paid twice" in note
    assert Installation.objects.get().order_id == first.pk
