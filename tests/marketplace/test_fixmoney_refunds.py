"""Refunds on the money paths (review findings 1, 5, 7): a charge.refunded that arrives before its
order completed is found by the charge's transfer group and applied at completion (a charge
refunded in full never installs nor pays out); completion also reads the charge's own
amount_refunded; every new refund of a paid-out order queues its reversal at once and the full
refund reports what was taken back in all; a failed delayed payment expires the order."""

import pytest
from django.conf import settings

from marketplace.models import Installation, Order, Payout, StripeEvent
from marketplace.services.order_events import PAYOUT_REVERSE_TASK
from marketplace.services.orders import order_start
from marketplace.services.payouts import orders_due, payouts_run
from tests.factories import UserFactory
from tests.fake_stripe import stripe_event
from tests.marketplace.buying_support import charge_refunded, deliver, intent_with_charge, paid_order, session_completed
from tests.marketplace.payouts_support import account_make
from tests.marketplace.store_support import listing_make
from tests.marketplace.support import customer_for, signals_recorded

HOLD = settings.PAYOUT_HOLD_DAYS * 86400


@pytest.fixture
def received():
    with signals_recorded("order_completed", "order_refunded", "order_refund_recorded", "payout_reversed") as seen:
        yield seen


@pytest.fixture
def bought(db, fake_stripe):
    buyer = UserFactory(terms_accepted=True)
    customer = customer_for(buyer, livemode=True)
    order = paid_order(buyer, listing_make(amount_minor=999), livemode=True)
    intent = intent_with_charge(fake_stripe, order)
    return {"buyer": buyer, "customer": customer, "order": order, "intent": intent}


def _early_refund(bought, fake_stripe, amount: int) -> dict:
    """charge.refunded as Stripe sends it before checkout.session.completed was processed: the
    charge names its payment intent and carries the intent's transfer group; the order knows neither yet."""
    order, intent = bought["order"], bought["intent"]
    fake_stripe.get("charges", intent["latest_charge"])["amount_refunded"] = amount
    event = charge_refunded(order, customer=bought["customer"].stripe_id, amount_refunded=amount)
    event["data"]["object"].update(id=intent["latest_charge"], payment_intent=intent["id"],
                                   transfer_group=f"order_{order.pk}")
    return event


def test_a_full_refund_before_completion_is_kept_and_completes_into_refunded(bought, fake_stripe, capture, received):
    order = bought["order"]
    event = _early_refund(bought, fake_stripe, 999)
    deliver(event, capture)
    stored = StripeEvent.objects.get(pk=event["id"])
    assert stored.status == "processed" and "applied when it completes" in stored.note
    order.refresh_from_db()
    assert (order.status, order.amount_refunded_minor) == ("pending", 999)
    deliver(session_completed(order, intent_id=bought["intent"]["id"]), capture)
    order.refresh_from_db()
    assert (order.status, order.amount_refunded_minor, order.charge_id) == ("refunded", 999,
                                                                            bought["intent"]["latest_charge"])
    assert order.refunded_at is not None
    assert not Installation.objects.exists()  # never installed
    assert [kw["reversed_minor"] for kw in received["order_refunded"]] == [0]
    assert not orders_due(now=order.payout_due_at).exists()  # nothing is paid out


def test_completion_reads_the_charges_refund_even_without_its_event(bought, fake_stripe, capture):
    order = bought["order"]
    fake_stripe.get("charges", bought["intent"]["latest_charge"])["amount_refunded"] = 999
    deliver(session_completed(order, intent_id=bought["intent"]["id"]), capture)
    assert fake_stripe.last("GET", f"/v1/payment_intents/{bought['intent']['id']}")["query"]["expand"] == [
        "latest_charge"]
    order.refresh_from_db()
    assert order.status == "refunded" and not Installation.objects.exists()


def test_a_partial_refund_before_completion_lowers_the_payout(bought, fake_stripe, capture, received, clock):
    order = bought["order"]
    deliver(_early_refund(bought, fake_stripe, 300), capture)
    deliver(session_completed(order, intent_id=bought["intent"]["id"]), capture)
    order.refresh_from_db()
    assert (order.status, order.amount_refunded_minor) == ("completed", 300)
    assert Installation.objects.filter(order=order, uninstalled_at__isnull=True).exists()
    assert [kw["amount_refunded_minor"] for kw in received["order_refund_recorded"]] == [300]
    account_make(order.partner, fake=fake_stripe)
    clock.advance(HOLD + 1)
    assert payouts_run()["paid"] == 1
    # 699 share, 699 * 300 // 999 = 209 of it refunded: 490 paid.
    assert int(fake_stripe.last("POST", "/v1/transfers")["form"]["amount"]) == 490
    assert Payout.objects.get().amount_minor == 490


def test_a_refund_of_another_charge_of_the_group_is_not_the_orders(bought, fake_stripe, capture):
    order = bought["order"]
    deliver(session_completed(order, intent_id=bought["intent"]["id"]), capture)
    event = _early_refund(bought, fake_stripe, 999)
    event["data"]["object"].update(id="ch_someone_else", payment_intent="pi_someone_else")
    deliver(event, capture)
    order.refresh_from_db()
    assert (order.status, order.amount_refunded_minor) == ("completed", 0)


def _paid_out(bought, fake_stripe, capture, clock) -> tuple[Order, Payout]:
    order = bought["order"]
    deliver(session_completed(order, intent_id=bought["intent"]["id"]), capture)
    account_make(order.partner, fake=fake_stripe)
    clock.advance(HOLD + 1)
    assert payouts_run()["paid"] == 1
    order.refresh_from_db()
    assert order.status == "paid_out"
    return order, Payout.objects.get()


def test_each_refund_after_payout_queues_its_reversal_and_the_full_one_reports_the_total(
        bought, fake_stripe, capture, received, clock):
    order, payout = _paid_out(bought, fake_stripe, capture, clock)
    customer = bought["customer"].stripe_id
    ran = deliver(charge_refunded(order, customer=customer, amount_refunded=500), capture)
    # The partner's 699 * 500 // 999 = 349 taken back at once, not at the 03:00 sweep.
    assert [(f, r) for f, _, r in ran if f == PAYOUT_REVERSE_TASK] == [(PAYOUT_REVERSE_TASK, 349)]
    payout.refresh_from_db()
    assert (payout.status, payout.amount_reversed_minor) == ("reversed", 349)
    first = payout.stripe_reversal_id
    ran = deliver(charge_refunded(order, customer=customer, amount_refunded=999), capture)
    assert [(f, r) for f, _, r in ran if f == PAYOUT_REVERSE_TASK] == [(PAYOUT_REVERSE_TASK, 350)]
    order.refresh_from_db()
    assert order.status == "refunded"
    assert [kw["reversed_minor"] for kw in received["order_refunded"]] == [699]  # was 0: only PAID was looked at
    payout.refresh_from_db()
    assert payout.amount_reversed_minor == 699 and payout.stripe_reversal_id != first
    assert [(kw["reversal_id"], kw["amount_minor"]) for kw in received["payout_reversed"]] == [
        (first, 349), (payout.stripe_reversal_id, 350)]
    reversals = fake_stripe.calls("POST", f"/v1/transfers/{payout.stripe_transfer_id}/reversals")
    assert [int(r["form"]["amount"]) for r in reversals] == [349, 350]


def _async_failed(order: Order) -> dict:
    return stripe_event("checkout.session.async_payment_failed", {
        "id": order.checkout_session_id, "object": "checkout.session", "mode": "payment", "status": "complete",
        "payment_status": "unpaid", "amount_total": order.amount_minor, "currency": order.currency,
        "metadata": {"order_id": str(order.pk), "listing_id": str(order.listing_id)}})


def test_a_failed_delayed_payment_expires_the_order_and_the_buyer_can_start_again(bought, fake_stripe, capture):
    order = bought["order"]
    event = _async_failed(order)
    deliver(event, capture)
    stored = StripeEvent.objects.get(pk=event["id"])
    assert stored.status == "processed" and "delayed payment failed" in stored.note
    order.refresh_from_db()
    assert order.status == "expired"
    again = order_start(buyer=bought["buyer"], listing=order.listing, livemode=True)
    assert again.pk != order.pk and again.status == "pending" and again.checkout_session_id
