"""The ledger's Stripe money: billing's invoice_paid / charge_refunded signals make the receivers
ask the (fake) Stripe for the balance transactions and record revenue, fees, refunds and fee
refunds, live mode only, idempotent by source; when Stripe cannot be reached the daily reconcile
records it from the stored events, and running it again adds nothing."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from intelligence.models import LedgerEntry
from intelligence.services.ledger_stripe import ledger_stripe_reconcile
from marketplace.models import StripeCustomer, StripeEvent
from marketplace.signals import charge_refunded, invoice_paid
from tests.factories import UserFactory
from tests.fake_stripe import stripe_event

pytestmark = pytest.mark.django_db

# 2026-11-20 23:30 UTC: a day that is the 21st in Europe, the 20th in UTC (the ledger's day).
PAID_AT = int(datetime(2026, 11, 20, 23, 30, tzinfo=UTC).timestamp())
REFUNDED_AT = int(datetime(2026, 11, 22, 9, 0, tzinfo=UTC).timestamp())


def _seed_charge(fake, *, charge_id="ch_live_1", amount=1900, fee=85, currency="usd", created=PAID_AT):
    fake.put("balance_transactions", {"id": f"txn_{charge_id}", "amount": amount, "fee": fee, "net": amount - fee,
                                      "currency": currency, "created": created, "type": "charge", "livemode": True})
    return fake.put("charges", {"id": charge_id, "amount": amount, "currency": currency, "livemode": True,
                                "balance_transaction": f"txn_{charge_id}", "customer": "cus_live_1",
                                "amount_refunded": 0})


def _seed_refund(fake, *, refund_id, charge_id="ch_live_1", amount=500, fee_back=0, status="succeeded",
                 created=REFUNDED_AT):
    fake.put("balance_transactions", {"id": f"txn_{refund_id}", "amount": -amount, "fee": -fee_back,
                                      "net": -amount + fee_back, "currency": "usd", "created": created, "type": "refund"})
    return fake.put("refunds", {"id": refund_id, "charge": charge_id, "amount": amount, "status": status,
                                "balance_transaction": f"txn_{refund_id}", "currency": "usd"})


def _paid(user, *, charge_id="ch_live_1", livemode=True):
    invoice_paid.send(sender=StripeEvent, user=user, livemode=livemode, invoice_id="in_1", charge_id=charge_id,
                      amount_minor=1900, currency="usd", paid_at=timezone.now(), event=None)


def _refunded(user, *, charge_id="ch_live_1", refunded=500, livemode=True):
    charge_refunded.send(sender=StripeEvent, user=user, livemode=livemode, charge_id=charge_id,
                         amount_refunded_minor=refunded, currency="usd", refunded_at=timezone.now(), event=None)


def _entries():
    return sorted((e.kind, e.amount_minor, e.currency, e.day, e.source) for e in LedgerEntry.objects.all())


def test_a_paid_invoice_records_revenue_and_fee_from_its_balance_transaction(
        fake_stripe, django_capture_on_commit_callbacks):
    payer = UserFactory()
    _seed_charge(fake_stripe)
    with django_capture_on_commit_callbacks(execute=True):
        _paid(payer)

    asked = fake_stripe.last("GET", "/v1/charges/ch_live_1")
    assert asked["query"]["expand"] == ["balance_transaction"]
    assert asked["api_key"] == "sk_live_fake_levqor"  # live money, the live key
    assert _entries() == [
        ("revenue", 1900, "USD", date(2026, 11, 20), "stripe:ch_live_1:txn_ch_live_1:revenue"),
        ("stripe_fee", 85, "USD", date(2026, 11, 20), "stripe:ch_live_1:txn_ch_live_1:fee"),
    ]
    assert {e.user_id for e in LedgerEntry.objects.all()} == {payer.pk}


def test_the_same_invoice_twice_adds_nothing(fake_stripe, django_capture_on_commit_callbacks):
    payer = UserFactory()
    _seed_charge(fake_stripe)
    with django_capture_on_commit_callbacks(execute=True):
        _paid(payer)
    with django_capture_on_commit_callbacks(execute=True):
        _paid(payer)
    assert LedgerEntry.objects.count() == 2
    assert len(fake_stripe.calls("GET", "/v1/charges/ch_live_1")) == 2  # asked again, recorded once


def test_a_settlement_in_another_currency_is_recorded_in_the_transactions_currency(
        fake_stripe, django_capture_on_commit_callbacks):
    _seed_charge(fake_stripe, amount=1745, fee=81, currency="eur")
    with django_capture_on_commit_callbacks(execute=True):
        _paid(UserFactory())
    assert {(e.kind, e.amount_minor, e.currency) for e in LedgerEntry.objects.all()} == {
        ("revenue", 1745, "EUR"), ("stripe_fee", 81, "EUR")}


def test_test_mode_money_is_not_revenue(fake_stripe, django_capture_on_commit_callbacks):
    _seed_charge(fake_stripe)
    with django_capture_on_commit_callbacks(execute=True):
        _paid(UserFactory(), livemode=False)
        _refunded(UserFactory(), livemode=False)
    assert fake_stripe.requests == []
    assert LedgerEntry.objects.count() == 0


def test_refunds_are_recorded_once_each_with_the_fees_stripe_gave_back(fake_stripe,
                                                                        django_capture_on_commit_callbacks):
    payer = UserFactory()
    _seed_charge(fake_stripe)
    _seed_refund(fake_stripe, refund_id="re_1", amount=500, fee_back=22)
    _seed_refund(fake_stripe, refund_id="re_pending", amount=300, status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        _refunded(payer)
    listed = fake_stripe.last("GET", "/v1/refunds")["query"]
    assert listed["charge"] == "ch_live_1" and listed["expand"] == ["data.balance_transaction"]
    assert _entries() == [
        ("fee_refund", 22, "USD", date(2026, 11, 22), "stripe:ch_live_1:re_1:fee_refund"),
        ("refund", 500, "USD", date(2026, 11, 22), "stripe:ch_live_1:re_1:refund"),
    ]

    # The same event again, then a second refund: only the new refund is added.
    with django_capture_on_commit_callbacks(execute=True):
        _refunded(payer)
    assert LedgerEntry.objects.count() == 2
    _seed_refund(fake_stripe, refund_id="re_2", amount=400)
    with django_capture_on_commit_callbacks(execute=True):
        _refunded(payer, refunded=900)
    assert [(e.kind, e.amount_minor) for e in LedgerEntry.objects.filter(source__contains="re_2")] == [("refund", 400)]
    assert LedgerEntry.objects.count() == 3


def _stored(event: dict, *, received_at=None, status=StripeEvent.Status.PROCESSED) -> StripeEvent:
    return StripeEvent.objects.create(id=event["id"], type=event["type"], livemode=event["livemode"],
                                      created=event["created"], payload=event, status=status,
                                      received_at=received_at or timezone.now())


def test_stripe_down_while_processing_then_the_reconcile_catches_up_and_adds_nothing_twice(
        fake_stripe, django_capture_on_commit_callbacks):
    payer = UserFactory()
    StripeCustomer.objects.create(user=payer, livemode=True, stripe_id="cus_live_1")
    _seed_charge(fake_stripe)
    _seed_refund(fake_stripe, refund_id="re_1", amount=500)
    paid = _stored(stripe_event("invoice.paid", {"id": "in_1", "object": "invoice", "charge": "ch_live_1",
                                                 "customer": "cus_live_1", "amount_paid": 1900, "currency": "usd"}))
    refunded = _stored(stripe_event("charge.refunded", {"id": "ch_live_1", "object": "charge", "customer": "cus_live_1",
                                                        "amount_refunded": 500, "currency": "usd"}))

    fake_stripe.fail_next(3, status=500)  # the request and the SDK's two retries
    with django_capture_on_commit_callbacks(execute=True):
        _paid(payer)  # Stripe failing: nothing recorded, nothing raised into billing's processing
    assert LedgerEntry.objects.count() == 0

    summary = ledger_stripe_reconcile(days=7)
    assert summary == {"events": 2, "asked": 2, "recorded": 3, "failed": 0, "stopped": False}
    assert {(e.kind, e.amount_minor, e.user_id) for e in LedgerEntry.objects.all()} == {
        ("revenue", 1900, payer.pk), ("stripe_fee", 85, payer.pk), ("refund", 500, payer.pk)}

    asked_before = len(fake_stripe.requests)
    assert ledger_stripe_reconcile(days=7) == {"events": 2, "asked": 0, "recorded": 0, "failed": 0, "stopped": False}
    assert len(fake_stripe.requests) == asked_before  # what is there is not asked about again
    assert LedgerEntry.objects.count() == 3
    assert {paid.pk, refunded.pk} == set(StripeEvent.objects.values_list("pk", flat=True))


def test_the_reconcile_skips_test_mode_old_and_unprocessed_events_and_stops_when_stripe_is_down(fake_stripe):
    _seed_charge(fake_stripe, charge_id="ch_a")
    _seed_charge(fake_stripe, charge_id="ch_b")
    invoice = {"object": "invoice", "customer": "cus_x", "currency": "usd"}
    _stored(stripe_event("invoice.paid", {**invoice, "id": "in_t", "charge": "ch_a"}, livemode=False))
    _stored(stripe_event("invoice.paid", {**invoice, "id": "in_old", "charge": "ch_a"}),
            received_at=timezone.now() - timedelta(days=8))
    _stored(stripe_event("invoice.paid", {**invoice, "id": "in_new", "charge": "ch_a"}),
            status=StripeEvent.Status.RECEIVED)
    _stored(stripe_event("invoice.paid", {**invoice, "id": "in_a", "charge": "ch_a"}))
    _stored(stripe_event("invoice.paid", {**invoice, "id": "in_b", "charge": "ch_b"}))

    fake_stripe.fail_next(3, status=503)
    assert ledger_stripe_reconcile(days=7) == {"events": 1, "asked": 1, "recorded": 0, "failed": 1, "stopped": True}
    assert ledger_stripe_reconcile(days=7) == {"events": 2, "asked": 2, "recorded": 4, "failed": 0, "stopped": False}
    assert {e.source.split(":")[1] for e in LedgerEntry.objects.all()} == {"ch_a", "ch_b"}
    assert all(r["api_key"] == "sk_live_fake_levqor" for r in fake_stripe.requests)


def test_the_backfill_command_reconciles_stripe_over_its_days(fake_stripe, capsys):
    _seed_charge(fake_stripe)
    _stored(stripe_event("invoice.paid", {"id": "in_1", "object": "invoice", "charge": "ch_live_1",
                                          "customer": "cus_x", "currency": "usd"}),
            received_at=timezone.now() - timedelta(days=20))
    assert ledger_stripe_reconcile(days=7)["events"] == 0
    call_command("ledger_backfill", "--days", "30")
    out = capsys.readouterr().out
    assert "Stripe: 1 live event(s) of the last 30 days, 1 charge(s) asked about, 2 entries recorded, 0 failed." in out
    assert LedgerEntry.objects.filter(kind="revenue", amount_minor=1900).exists()


# Stripe API >= 2025-03-31.basil (the SDK's pinned version): the Invoice names no `charge`; its
# payments do (GET /v1/invoice_payments?invoice=<id>), through the payment intent's latest charge.
def _basil_invoice(customer_id: str, *, invoice_id="in_basil_1", amount_paid=1900) -> dict:
    return {"id": invoice_id, "object": "invoice", "customer": customer_id, "amount_paid": amount_paid,
            "currency": "usd", "status": "paid",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": "sub_1"}},
            "status_transitions": {"paid_at": PAID_AT}}


def _seed_payment(fake, *, invoice_id="in_basil_1", charge_id="ch_live_1", via_intent=True, status="paid"):
    if via_intent:
        intent = fake.put("payment_intents", {"id": f"pi_{charge_id}", "status": "succeeded",
                                              "latest_charge": charge_id, "amount": 1900, "currency": "usd"})
        payment = {"type": "payment_intent", "payment_intent": intent["id"]}
    else:
        payment = {"type": "charge", "charge": charge_id}
    return fake.put("invoice_payments", {"invoice": invoice_id, "status": status, "amount_paid": 1900,
                                         "currency": "usd", "is_default": True, "payment": payment})


def test_a_basil_invoice_paid_webhook_records_revenue_and_fee_through_the_invoice_payments(
        fake_stripe, django_capture_on_commit_callbacks):
    import stripe

    from tests.marketplace.support import customer_for, deliver
    payer = UserFactory()
    customer = customer_for(payer)
    _seed_charge(fake_stripe)
    _seed_payment(fake_stripe)
    _seed_payment(fake_stripe, invoice_id="in_other", charge_id="ch_other")  # another invoice's payment
    event = stripe_event("invoice.paid", _basil_invoice(customer.stripe_id))
    assert event["api_version"] == stripe.api_version
    deliver(event, django_capture_on_commit_callbacks)

    listed = fake_stripe.last("GET", "/v1/invoice_payments")["query"]
    assert (listed["invoice"], listed["status"], listed["expand"]) == ("in_basil_1", "paid",
                                                                        ["data.payment.payment_intent"])
    assert fake_stripe.calls("GET", "/v1/charges/ch_other") == []
    assert _entries() == [
        ("revenue", 1900, "USD", date(2026, 11, 20), "stripe:ch_live_1:txn_ch_live_1:revenue"),
        ("stripe_fee", 85, "USD", date(2026, 11, 20), "stripe:ch_live_1:txn_ch_live_1:fee"),
    ]
    assert {e.user_id for e in LedgerEntry.objects.all()} == {payer.pk}


def test_stripe_down_for_a_basil_invoice_then_the_reconcile_finds_its_charge_and_adds_nothing_twice(
        fake_stripe, django_capture_on_commit_callbacks):
    payer = UserFactory()
    StripeCustomer.objects.create(user=payer, livemode=True, stripe_id="cus_live_1")
    _seed_charge(fake_stripe)
    _seed_charge(fake_stripe, charge_id="ch_direct")
    _seed_payment(fake_stripe)
    _seed_payment(fake_stripe, invoice_id="in_basil_2", charge_id="ch_direct", via_intent=False)
    _seed_payment(fake_stripe, invoice_id="in_basil_2", charge_id="ch_failed", via_intent=False, status="canceled")
    _stored(stripe_event("invoice.paid", _basil_invoice("cus_live_1")))
    _stored(stripe_event("invoice.paid", _basil_invoice("cus_live_1", invoice_id="in_basil_2")))
    _stored(stripe_event("invoice.paid", _basil_invoice("cus_live_1", invoice_id="in_free", amount_paid=0)))

    fake_stripe.fail_next(3, status=500)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_paid.send(sender=StripeEvent, user=payer, livemode=True, invoice_id="in_basil_1", charge_id="",
                          amount_minor=1900, currency="usd", paid_at=timezone.now(), event=None)
    assert LedgerEntry.objects.count() == 0

    assert ledger_stripe_reconcile(days=7) == {"events": 3, "asked": 2, "recorded": 4, "failed": 0, "stopped": False}
    assert {(e.kind, e.amount_minor, e.source.split(":")[1], e.user_id) for e in LedgerEntry.objects.all()} == {
        ("revenue", 1900, "ch_live_1", payer.pk), ("stripe_fee", 85, "ch_live_1", payer.pk),
        ("revenue", 1900, "ch_direct", payer.pk), ("stripe_fee", 85, "ch_direct", payer.pk)}
    assert fake_stripe.calls("GET", "/v1/charges/ch_failed") == []

    asked_before = len(fake_stripe.requests)
    assert ledger_stripe_reconcile(days=7) == {"events": 3, "asked": 0, "recorded": 0, "failed": 0, "stopped": False}
    assert len(fake_stripe.requests) == asked_before
