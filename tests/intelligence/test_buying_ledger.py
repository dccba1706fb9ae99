"""Marketplace orders in the profit ledger: a live paid order's revenue and Stripe fee (from the
charge's balance transaction at the fake Stripe), the partner's share owed and the platform fee (a
figure of its own, in neither revenue nor costs); a refund takes the partner's payout back whether
it was owed or paid; test-mode and free orders write nothing; the admin page shows it."""

import pytest

from intelligence.models import LedgerEntry
from intelligence.services.ledger import ledger_report
from marketplace import signals
from marketplace.models import Order, Payout
from marketplace.services.orders import order_start
from tests.factories import UserFactory
from tests.marketplace.buying_support import charge_refunded, deliver, intent_with_charge, paid_order, session_completed
from tests.marketplace.store_support import listing_make
from tests.marketplace.support import customer_for


def _bought(fake_stripe, *, livemode: bool = True, amount: int = 999):
    buyer = UserFactory(terms_accepted=True)
    customer = customer_for(buyer, livemode=livemode)
    order = paid_order(buyer, listing_make(amount_minor=amount), livemode=livemode)
    intent = intent_with_charge(fake_stripe, order, fee=59)
    return buyer, customer, order, intent


def _entries() -> dict[str, tuple[int, bool]]:
    return {e.source.split(":")[0] + ":" + e.kind: (e.amount_minor, e.pending) for e in LedgerEntry.objects.all()}


def _refund_at_stripe(fake_stripe, order: Order) -> None:
    txn = fake_stripe.put("balance_transactions", {"amount": -order.amount_minor, "fee": 0, "currency": order.currency})
    fake_stripe.put("refunds", {"charge": order.charge_id, "status": "succeeded", "amount": order.amount_minor,
                                "balance_transaction": txn["id"]})


@pytest.mark.django_db
def test_a_completed_order_records_revenue_fee_payout_owed_and_platform_fee(fake_stripe, capture):
    buyer, _, order, intent = _bought(fake_stripe)
    event = session_completed(order, intent_id=intent["id"])
    deliver(event, capture)
    order.refresh_from_db()
    assert fake_stripe.last("GET", f"/v1/charges/{order.charge_id}")["api_key"] == "sk_live_fake_levqor"
    by_kind = {e.kind: e for e in LedgerEntry.objects.all()}
    assert set(by_kind) == {"revenue", "stripe_fee", "payout", "platform_fee"}
    assert (by_kind["revenue"].amount_minor, by_kind["revenue"].currency, by_kind["revenue"].user) == (999, "USD", buyer)
    assert by_kind["stripe_fee"].amount_minor == 59
    assert (by_kind["payout"].amount_minor, by_kind["payout"].pending, by_kind["payout"].source) == (
        699, True, f"payout:{order.pk}")
    assert (by_kind["platform_fee"].amount_minor, by_kind["platform_fee"].source) == (300, f"order:{order.pk}:platform_fee")
    usd = ledger_report(days=7)["currencies"]["USD"]
    # The platform fee is inside revenue already: reported beside it, neither added to revenue nor a cost.
    assert (usd["revenue"], usd["platform_fees"], usd["payouts"], usd["payouts_pending"]) == (999, 300, 699, 699)
    assert (usd["total_costs"], usd["net"]) == (59 + 699, 999 - 59 - 699)
    # Processed again (another event id): nothing is added.
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    assert LedgerEntry.objects.count() == 4


@pytest.mark.django_db
def test_a_refund_before_payout_clears_the_owed_payout(fake_stripe, capture):
    _, customer, order, intent = _bought(fake_stripe)
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    order.refresh_from_db()
    _refund_at_stripe(fake_stripe, order)
    deliver(charge_refunded(order, customer=customer.stripe_id), capture)
    payout = LedgerEntry.objects.get(kind="payout")
    reversal = LedgerEntry.objects.get(kind="payout_reversal")
    assert payout.pending is False
    assert (reversal.amount_minor, reversal.source) == (699, f"order:{order.pk}:payout_reversal")
    assert LedgerEntry.objects.get(kind="refund").amount_minor == 999  # billing's charge_refunded, as before
    usd = ledger_report(days=7)["currencies"]["USD"]
    assert (usd["payouts"], usd["payouts_pending"], usd["refunds"]) == (0, 0, 999)
    assert (usd["total_costs"], usd["net"]) == (59 + 999, 999 - 59 - 999)


@pytest.mark.django_db
def test_a_refund_after_payout_reverses_the_paid_share(fake_stripe, capture):
    _, customer, order, intent = _bought(fake_stripe)
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    order.refresh_from_db()
    # As the payouts part leaves a paid order, and the signal it sends (its code is not called here).
    fake_stripe.put("transfers", {"id": "tr_led", "amount": 699, "currency": order.currency, "amount_reversed": 0})
    payout = Payout.objects.create(order=order, partner=order.partner, amount_minor=699, currency=order.currency,
                                   status=Payout.Status.PAID, idempotency_key=f"payout-{order.pk}",
                                   stripe_transfer_id="tr_led")
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PAID_OUT)
    with capture(execute=True):
        signals.payout_paid.send(sender=Payout, payout=payout, order=order)
    assert LedgerEntry.objects.get(kind="payout").pending is False
    assert ledger_report(days=7)["currencies"]["USD"]["payouts_pending"] == 0
    _refund_at_stripe(fake_stripe, order)
    deliver(charge_refunded(order, customer=customer.stripe_id), capture)  # the reversal task runs on the workers
    reversal = LedgerEntry.objects.get(kind="payout_reversal")
    payout.refresh_from_db()
    assert (reversal.amount_minor, reversal.source) == (699, f"payout_reversal:{payout.stripe_reversal_id}")
    usd = ledger_report(days=7)["currencies"]["USD"]
    assert (usd["payouts"], usd["payouts_pending"]) == (0, 0)
    deliver(charge_refunded(order, customer=customer.stripe_id), capture)  # again: nothing added
    assert LedgerEntry.objects.filter(kind="payout_reversal").count() == 1


@pytest.mark.django_db
def test_test_mode_and_free_orders_write_nothing(fake_stripe, capture):
    _, _, order, intent = _bought(fake_stripe, livemode=False)
    deliver(session_completed(order, intent_id=intent["id"], livemode=False), capture)
    assert Order.objects.get(pk=order.pk).status == "completed"
    with capture(execute=True):
        order_start(buyer=UserFactory(), listing=listing_make(amount_minor=0), livemode=True)
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db
def test_the_ledger_page_shows_platform_fees_and_net_payouts(fake_stripe, capture, operator):
    _, _, order, intent = _bought(fake_stripe)
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    page = operator.get("/admin/money/ledger/?days=7")
    assert page.status_code == 200
    assert b"Platform fees" in page.content and b"3.00 USD" in page.content
    csv = operator.get("/admin/money/ledger/?days=7&format=csv").content.decode()
    assert "total,,USD,platform_fees,300,3.00" in csv
    api = operator.get("/api/v1/intelligence/ledger?days=7")
    assert api.json()["currencies"]["USD"]["platform_fees"] == 300


@pytest.mark.django_db
def test_revenue_missed_while_stripe_was_down_is_recorded_by_the_reconcile(fake_stripe, capture):
    from intelligence.tasks import ledger_reconcile

    _, _, order, intent = _bought(fake_stripe)
    real_get = fake_stripe.on_request

    def charges_down(method, path):  # Stripe unreachable for the charge, after the order completed
        if path.startswith("/v1/charges/"):
            fake_stripe.fail_next(1, status=500)
        return real_get and real_get(method, path)

    fake_stripe.on_request = charges_down
    deliver(session_completed(order, intent_id=intent["id"]), capture)
    assert Order.objects.get(pk=order.pk).status == "completed"
    assert set(LedgerEntry.objects.values_list("kind", flat=True)) == {"payout", "platform_fee"}
    fake_stripe.on_request = None
    summary = ledger_reconcile()
    assert summary["orders"] == {"orders": 1, "asked": 1, "recorded": 2, "failed": 0, "stopped": False}
    assert {"revenue", "stripe_fee"} <= set(LedgerEntry.objects.values_list("kind", flat=True))
    assert ledger_reconcile()["orders"]["asked"] == 0  # recorded: not asked again
