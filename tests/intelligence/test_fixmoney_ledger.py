"""The ledger on the money paths (review findings 4, 5, 9): payouts net to what was transferred
whatever the order of refunds and payouts (a payout made after a partial refund, reversals per
Stripe reversal id, a payout Stripe made after its order was refunded in full), never recorded
twice; platform_fees net of the part refunds gave back."""

import pytest
from django.conf import settings

from intelligence.models import LedgerEntry
from intelligence.services.ledger import ledger_report
from marketplace.models import Order, Payout
from marketplace.services.payouts import payouts_run
from tests.factories import UserFactory
from tests.marketplace.buying_support import charge_refunded, deliver, intent_with_charge, paid_order, session_completed
from tests.marketplace.payouts_support import account_make
from tests.marketplace.store_support import listing_make
from tests.marketplace.support import customer_for

pytestmark = pytest.mark.django_db
HOLD = settings.PAYOUT_HOLD_DAYS * 86400


@pytest.fixture
def completed(fake_stripe, capture):
    """A live order of 9.99 (partner share 6.99, platform fee 3.00) completed, its partner able to be paid."""
    buyer = UserFactory(terms_accepted=True)
    customer = customer_for(buyer, livemode=True)
    order = paid_order(buyer, listing_make(amount_minor=999), livemode=True)
    intent = intent_with_charge(fake_stripe, order)
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    order.refresh_from_db()
    account_make(order.partner, fake=fake_stripe)
    return {"order": order, "customer": customer.stripe_id}


def _usd() -> dict:
    return ledger_report(days=30)["currencies"]["USD"]


def _reversal_sources() -> list[tuple[str, int]]:
    return sorted((e.source.split(":")[0] if e.source.startswith("payout_reversal:") else e.source, e.amount_minor)
                  for e in LedgerEntry.objects.filter(kind="payout_reversal"))


def test_a_partial_refund_before_the_payout_nets_payouts_to_what_was_paid(completed, fake_stripe, capture, clock):
    order = completed["order"]
    deliver(charge_refunded(order, customer=completed["customer"], amount_refunded=300), capture)
    clock.advance(HOLD + 1)
    assert payouts_run()["paid"] == 1
    usd = _usd()
    # 699 owed, 490 transferred: the 209 withheld taken back; nothing stays pending.
    assert (usd["payouts"], usd["payouts_pending"]) == (490, 0)
    assert _reversal_sources() == [(f"order:{order.pk}:payout_withheld", 209)]
    # 300 * 300 // 999 = 90 of the platform's fee went back with the refund.
    assert usd["platform_fees"] == 300 - 90
    # Refunded in full later: the 490 transferred comes back by one Stripe reversal.
    deliver(charge_refunded(order, customer=completed["customer"]), capture)
    assert (_usd()["payouts"], _usd()["platform_fees"]) == (0, 0)
    assert _reversal_sources() == [(f"order:{order.pk}:payout_withheld", 209), ("payout_reversal", 490)]


def test_partial_then_full_refund_after_the_payout_record_each_reversal_once(completed, fake_stripe, capture, clock):
    order = completed["order"]
    clock.advance(HOLD + 1)
    payouts_run()
    deliver(charge_refunded(order, customer=completed["customer"], amount_refunded=500), capture)
    assert (_usd()["payouts"], _usd()["platform_fees"]) == (699 - 349, 300 - 150)
    deliver(charge_refunded(order, customer=completed["customer"], amount_refunded=999), capture)
    deliver(charge_refunded(order, customer=completed["customer"], amount_refunded=999), capture)  # again: nothing
    payout = Payout.objects.get()
    assert LedgerEntry.objects.filter(source=f"payout_reversal:{payout.stripe_reversal_id}").exists()
    assert _reversal_sources() == [("payout_reversal", 349), ("payout_reversal", 350)]
    assert not LedgerEntry.objects.filter(source=f"order:{order.pk}:payout_reversal").exists()
    usd = _usd()
    assert (usd["payouts"], usd["payouts_pending"], usd["platform_fees"]) == (0, 0, 0)
    payouts_run()  # the sweep: nothing more
    assert LedgerEntry.objects.filter(kind="payout_reversal").count() == 2


def test_a_refund_before_the_payout_still_nets_to_zero(completed, capture):
    deliver(charge_refunded(completed["order"], customer=completed["customer"]), capture)
    usd = _usd()
    assert (usd["payouts"], usd["payouts_pending"], usd["platform_fees"]) == (0, 0, 0)
    assert _reversal_sources() == [(f"order:{completed['order'].pk}:payout_reversal", 699)]


def test_a_payout_stripe_made_after_its_order_was_refunded_is_not_reversed_twice(completed, fake_stripe, capture,
                                                                                 clock):
    order = completed["order"]
    clock.advance(HOLD + 1)
    # Stripe timed out on the transfer (it was made); the order is refunded in full before the next run.
    payout = Payout.objects.create(order=order, partner=order.partner, amount_minor=699, currency="usd",
                                   idempotency_key=f"payout-{order.pk}")
    fake_stripe.put("transfers", {"amount": 699, "currency": "usd", "transfer_group": f"order_{order.pk}",
                                  "metadata": {"payout_id": str(payout.pk)}})
    deliver(charge_refunded(order, customer=completed["customer"]), capture)
    assert Order.objects.get(pk=order.pk).status == "refunded"
    payouts_run()
    payout.refresh_from_db()
    assert (payout.status, payout.amount_reversed_minor) == ("reversed", 699)
    assert _reversal_sources() == [(f"order:{order.pk}:payout_reversal", 699)]
    assert (_usd()["payouts"], _usd()["payouts_pending"]) == (0, 0)


def test_a_refund_before_completion_leaves_no_payout_nor_fee(fake_stripe, capture):
    buyer = UserFactory(terms_accepted=True)
    customer = customer_for(buyer, livemode=True)
    order = paid_order(buyer, listing_make(amount_minor=999), livemode=True)
    intent = intent_with_charge(fake_stripe, order)
    fake_stripe.get("charges", intent["latest_charge"])["amount_refunded"] = 999
    event = charge_refunded(order, customer=customer.stripe_id)
    event["data"]["object"].update(id=intent["latest_charge"], payment_intent=intent["id"],
                                   transfer_group=f"order_{order.pk}")
    deliver(event, capture)
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    usd = _usd()
    assert (usd["payouts"], usd["payouts_pending"], usd["platform_fees"]) == (0, 0, 0)
