"""Helpers of the buying tests: a paid order started through the service against the fake Stripe,
Stripe's events about it (as Stripe shapes them), delivered to the real webhook endpoint and
processed in-process; what the workers would run after it runs too (tests.jobs.support.tasks_drain)."""

import time

from marketplace.models import Order
from marketplace.services.orders import order_start
from tests.fake_stripe import stripe_event
from tests.jobs.support import tasks_drain
from tests.marketplace.support import webhook_post


def deliver(event: dict, capture) -> list:
    """The event posted (signed) to /webhooks/stripe, its hand-over run, the workers drained."""
    with capture(execute=True):
        response = webhook_post(event)
    assert response.status_code == 200, response.content
    ran = []
    while True:  # what the workers queue after their commits (webhook deliveries, reversals) runs too
        with capture(execute=True):
            batch = tasks_drain(limit=200)
        ran += batch
        if not batch:
            return ran


def paid_order(buyer, listing, *, livemode: bool = True) -> Order:
    return order_start(buyer=buyer, listing=listing, livemode=livemode)


def intent_with_charge(fake, order: Order, *, charge_id: str | None = None, amount: int | None = None,
                       fee: int = 59) -> dict:
    """What Stripe holds once the buyer paid: the charge, its balance transaction, the payment intent."""
    amount = order.amount_minor if amount is None else amount
    txn = fake.put("balance_transactions", {"amount": amount, "fee": fee, "net": amount - fee,
                                            "currency": order.currency})
    charge = fake.put("charges", {"id": charge_id or f"ch_{order.pk.hex[:12]}", "amount": amount,
                                  "currency": order.currency, "balance_transaction": txn["id"]})
    return fake.put("payment_intents", {"id": f"pi_{order.pk.hex[:12]}", "amount": amount, "currency": order.currency,
                                        "latest_charge": charge["id"], "status": "succeeded"})


def session_completed(order: Order, *, intent_id: str, amount: int | None = None, currency: str | None = None,
                      livemode: bool = True, payment_status: str = "paid", **kwargs) -> dict:
    return stripe_event("checkout.session.completed", {
        "id": order.checkout_session_id, "object": "checkout.session", "mode": "payment",
        "payment_status": payment_status, "status": "complete",
        "amount_total": order.amount_minor if amount is None else amount, "currency": currency or order.currency,
        "customer": "cus_x", "payment_intent": intent_id, "client_reference_id": str(order.buyer_id),
        "metadata": {"order_id": str(order.pk), "listing_id": str(order.listing_id)}}, livemode=livemode, **kwargs)


def session_expired(order: Order, *, livemode: bool = True) -> dict:
    return stripe_event("checkout.session.expired", {
        "id": order.checkout_session_id, "object": "checkout.session", "mode": "payment", "status": "expired",
        "payment_status": "unpaid", "amount_total": order.amount_minor, "currency": order.currency,
        "metadata": {"order_id": str(order.pk), "listing_id": str(order.listing_id)}}, livemode=livemode)


def charge_refunded(order: Order, *, customer: str, amount_refunded: int | None = None, by_intent: bool = False,
                    livemode: bool = True) -> dict:
    refunded = order.amount_minor if amount_refunded is None else amount_refunded
    return stripe_event("charge.refunded", {
        "id": "ch_other" if by_intent else order.charge_id, "object": "charge", "customer": customer,
        "payment_intent": order.payment_intent_id, "amount": order.amount_minor, "amount_refunded": refunded,
        "currency": order.currency, "refunded": refunded >= order.amount_minor,
        "refunds": {"object": "list", "data": [{"id": "re_1", "amount": refunded, "created": int(time.time())}]}},
        livemode=livemode)
