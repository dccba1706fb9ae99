"""An order's Stripe events, delivered to the real webhook endpoint and processed in-process:
checkout.session.completed completes it exactly once (split, install, signal, webhook events to
the partner and the buyer), a mismatched amount never does, an expired session expires it, a refund
(before or after the partner was paid) refunds it and asks the payouts part to reverse."""

from datetime import timedelta
from decimal import Decimal

import pytest

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from marketplace.models import Installation, Order, Payout, StripeEvent
from marketplace.services.order_events import PAYOUT_REVERSE_TASK
from marketplace.services.orders import order_split
from tests.factories import UserFactory
from tests.marketplace.buying_support import (
    charge_refunded,
    deliver,
    intent_with_charge,
    paid_order,
    session_completed,
    session_expired,
)
from tests.marketplace.store_support import listing_make
from tests.marketplace.support import customer_for, signals_recorded


@pytest.fixture
def received():
    with signals_recorded("order_completed", "order_refunded", "charge_refunded") as seen:
        yield seen


@pytest.fixture
def bought(db, fake_stripe, fake_server):
    """A buyer (a live Stripe customer) with a pending order of a 9.99 listing (partner share 0.7),
    what Stripe holds once they paid, and webhook endpoints of the partner and the buyer."""
    buyer = UserFactory(terms_accepted=True)
    customer = customer_for(buyer)
    listing = listing_make(amount_minor=999)
    order = paid_order(buyer, listing)
    intent = intent_with_charge(fake_stripe, order)
    events = ["order.completed", "order.refunded"]
    WebhookEndpoint.objects.create(owner=listing.partner.owner, audience="partner", url=fake_server.url + "/partner",
                                   event_types=events)
    WebhookEndpoint.objects.create(owner=buyer, audience="account", url=fake_server.url + "/buyer", event_types=events)
    return {"buyer": buyer, "customer": customer, "listing": listing, "order": order, "intent": intent}


def _status(event) -> tuple[str, str]:
    stored = StripeEvent.objects.get(pk=event["id"])
    return stored.status, stored.note


def _complete(bought, capture, fake_stripe) -> Order:
    deliver(session_completed(bought["order"], intent_id=bought["intent"]["id"]), capture)
    order = Order.objects.get(pk=bought["order"].pk)
    assert order.status == "completed"
    return order


@pytest.mark.parametrize(("amount", "share", "split"), [
    (999, "0.700", (699, 300)), (1, "0.700", (0, 1)), (1000, "0.850", (850, 150)), (999, "0.333", (332, 667)),
    (500, "1.000", (500, 0)), (500, "0.000", (0, 500)), (99999, "0.699", (69899, 30100)),
])
def test_the_split_truncates_the_partners_share_to_a_minor_unit(amount, share, split):
    assert order_split(amount_minor=amount, revenue_share=Decimal(share)) == split


def test_checkout_completed_completes_the_order_once(bought, fake_stripe, fake_server, capture, received):
    order = _complete(bought, capture, fake_stripe)
    assert fake_stripe.last("GET", f"/v1/payment_intents/{bought['intent']['id']}")["api_key"] == "sk_live_fake_levqor"
    assert (order.payment_intent_id, order.charge_id) == (bought["intent"]["id"], bought["intent"]["latest_charge"])
    assert (order.partner_share_minor, order.platform_fee_minor) == (699, 300)
    assert order.payout_due_at == order.completed_at + timedelta(days=7)
    install = Installation.objects.get(user=bought["buyer"], listing=bought["listing"], uninstalled_at__isnull=True)
    assert install.order == order
    bought["listing"].refresh_from_db()
    assert bought["listing"].downloads == 1
    assert [kw["order"].pk for kw in received["order_completed"]] == [order.pk]
    deliveries = WebhookDelivery.objects.filter(event_type="order.completed")
    assert {(d.owner_id, d.url.rsplit("/", 1)[1]) for d in deliveries} == {
        (bought["listing"].partner.owner_id, "partner"), (bought["buyer"].pk, "buyer")}
    assert sorted(r["path"] for r in fake_server.requests) == ["/buyer", "/partner"]  # delivered by the workers
    body = fake_server.requests[0]["body"]
    assert b'"order.completed"' in body and str(order.pk).encode() in body and b'"partner_share_minor":699' in body
    # The same completion again (Stripe sends it again under another event id): nothing changes.
    requests_before, updated = len(fake_stripe.requests), order.updated_at
    again = session_completed(order, intent_id=bought["intent"]["id"])
    deliver(again, capture)
    assert _status(again)[0] == "processed" and "already" in _status(again)[1]
    order.refresh_from_db()
    assert order.updated_at == updated and order.status == "completed"
    assert len(fake_stripe.requests) == requests_before  # not even a fetch
    assert Installation.objects.count() == 1 and len(received["order_completed"]) == 1
    assert WebhookDelivery.objects.count() == 2 and len(fake_server.requests) == 2


@pytest.mark.parametrize(("amount", "currency"), [(998, None), (999, "usd_"), (None, "eur")])
def test_a_payment_that_does_not_match_the_order_never_completes_it(bought, fake_stripe, capture, received,
                                                                    amount, currency):
    event = session_completed(bought["order"], intent_id=bought["intent"]["id"], amount=amount,
                              currency=currency)
    deliver(event, capture)
    status, note = _status(event)
    assert status == "ignored" and "amount mismatch" in note
    assert Order.objects.get().status == "pending" and not Installation.objects.exists()
    assert received["order_completed"] == []


def test_an_unpaid_or_foreign_session_changes_nothing(bought, fake_stripe, capture):
    unpaid = session_completed(bought["order"], intent_id=bought["intent"]["id"], payment_status="unpaid")
    deliver(unpaid, capture)
    assert _status(unpaid)[0] == "ignored" and Order.objects.get().status == "pending"
    other = session_completed(bought["order"], intent_id=bought["intent"]["id"])
    other["data"]["object"]["metadata"]["order_id"] = "not-a-uuid"
    deliver(other, capture)
    assert _status(other) == ("ignored", f"checkout session {bought['order'].checkout_session_id} is no order of ours")
    test_mode = session_completed(bought["order"], intent_id=bought["intent"]["id"], livemode=False)
    deliver(test_mode, capture)
    assert _status(test_mode)[0] == "ignored" and "test-mode event for a live order" in _status(test_mode)[1]
    assert Order.objects.get().status == "pending"


def test_an_expired_session_expires_the_order_and_a_new_start_opens_another(bought, fake_stripe, capture):
    event = session_expired(bought["order"])
    deliver(event, capture)
    assert _status(event)[0] == "processed" and Order.objects.get().status == "expired"
    again = paid_order(bought["buyer"], bought["listing"])
    assert again.pk != bought["order"].pk and again.status == "pending"
    assert len(fake_stripe.calls("POST", "/v1/checkout/sessions")) == 2
    # Paid after all (Stripe completed it before it expired, the events crossed): the order completes.
    deliver(session_completed(bought["order"], intent_id=bought["intent"]["id"]), capture)
    assert Order.objects.get(pk=bought["order"].pk).status == "completed"


def test_a_refund_before_payout_refunds_uninstalls_and_asks_for_a_reversal(bought, fake_stripe, fake_server, capture,
                                                                          received):
    order = _complete(bought, capture, fake_stripe)
    ran = deliver(charge_refunded(order, customer=bought["customer"].stripe_id), capture)
    order.refresh_from_db()
    assert order.status == "refunded" and order.refunded_at and order.amount_refunded_minor == 999
    assert not Installation.objects.filter(uninstalled_at__isnull=True).exists()
    assert Installation.objects.get().uninstalled_at is not None
    assert [(kw["order"].pk, kw["reversed_minor"]) for kw in received["order_refunded"]] == [(order.pk, 0)]
    # billing's own signal still fires for the ledger's refund entries.
    assert [kw["charge_id"] for kw in received["charge_refunded"]] == [order.charge_id]
    assert received["charge_refunded"][0]["user"] == bought["buyer"]
    assert (PAYOUT_REVERSE_TASK, (str(order.pk),)) in [(func, args) for func, args, _ in ran]
    refunded = WebhookDelivery.objects.filter(event_type="order.refunded")
    assert sorted(d.url.rsplit("/", 1)[1] for d in refunded) == ["buyer", "partner"]
    assert sum(b'"order.refunded"' in r["body"] for r in fake_server.requests) == 2
    # The refund again: nothing moves.
    ran = deliver(charge_refunded(order, customer=bought["customer"].stripe_id), capture)
    assert len(received["order_refunded"]) == 1 and PAYOUT_REVERSE_TASK not in [func for func, _, _ in ran]


def test_a_refund_after_payout_carries_the_share_to_reverse(bought, fake_stripe, capture, received):
    order = _complete(bought, capture, fake_stripe)
    # A paid order as the daily payout run leaves it: the transfer at Stripe, the Payout paid.
    transfer = fake_stripe.put("transfers", {"id": "tr_1", "amount": 699, "currency": order.currency,
                                             "amount_reversed": 0, "reversals": {"object": "list", "data": []}})
    payout = Payout.objects.create(order=order, partner=order.partner, amount_minor=699, currency=order.currency,
                                   status=Payout.Status.PAID, idempotency_key=f"payout-{order.pk}",
                                   stripe_transfer_id=transfer["id"])
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID_OUT)
    ran = deliver(charge_refunded(order, customer=bought["customer"].stripe_id, by_intent=True), capture)
    order.refresh_from_db()
    assert order.status == "refunded"
    assert [kw["reversed_minor"] for kw in received["order_refunded"]] == [699]
    # The reversal task ran on the workers: the partner's whole share taken back from its transfer.
    assert [(func, args, result) for func, args, result in ran if func == PAYOUT_REVERSE_TASK] == [
        (PAYOUT_REVERSE_TASK, (str(order.pk),), 699)]
    sent = fake_stripe.last("POST", "/v1/transfers/tr_1/reversals")
    assert int(sent["form"]["amount"]) == 699 and sent["idempotency_key"]
    payout.refresh_from_db()
    assert payout.status == Payout.Status.REVERSED and payout.stripe_reversal_id


def test_a_partial_refund_keeps_the_order(bought, fake_stripe, capture, received):
    order = _complete(bought, capture, fake_stripe)
    event = charge_refunded(order, customer=bought["customer"].stripe_id, amount_refunded=300)
    deliver(event, capture)
    order.refresh_from_db()
    assert (order.status, order.amount_refunded_minor) == ("completed", 300)
    assert "partial refund" in _status(event)[1] and received["order_refunded"] == []
    assert Installation.objects.filter(uninstalled_at__isnull=True).exists()
    deliver(charge_refunded(order, customer=bought["customer"].stripe_id), capture)  # the rest
    order.refresh_from_db()
    assert (order.status, order.amount_refunded_minor) == ("refunded", 999)


def test_a_refund_of_a_charge_that_is_no_orders_is_billings_alone(bought, fake_stripe, capture, received):
    event = charge_refunded(bought["order"], customer=bought["customer"].stripe_id)
    event["data"]["object"].update(id="ch_subscription", payment_intent="pi_elsewhere")
    deliver(event, capture)
    assert _status(event) == ("processed", "")
    assert received["order_refunded"] == [] and len(received["charge_refunded"]) == 1
