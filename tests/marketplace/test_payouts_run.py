"""The daily payouts run against the fake Stripe, with the clock: nothing before the hold ends,
then one transfer per order with the key payout-<order>, the order paid_out and payout.paid at
the partner's endpoint; held partners; Stripe refusing (retried with the same key) or out of
reach (the run stops); never paying twice; reversals after refunds."""

import json

import pytest
import stripe
from django.conf import settings
from django.core.management import call_command

from levqor.errors import AppError
from levqor.webhooks.endpoints import webhook_endpoint_create
from levqor.webhooks.models import WebhookDelivery
from levqor.webhooks.tasks import webhook_deliver
from marketplace import signals
from marketplace.models import Order, Payout
from marketplace.services.payout_reversals import payout_reverse_for_order
from marketplace.services.payouts import payouts_run
from marketplace.tasks import payout_reverse_for_order as reverse_task
from partners.services.status import partner_status_change
from tests.concurrency import run_together
from tests.marketplace.payouts_support import account_make, order_make, partner_make

pytestmark = pytest.mark.django_db

HOLD = settings.PAYOUT_HOLD_DAYS * 86400


@pytest.fixture
def paid_signals():
    seen = []

    def receiver(sender, **kwargs):
        seen.append(kwargs)

    signals.payout_paid.connect(receiver, weak=False)
    yield seen
    signals.payout_paid.disconnect(receiver)


@pytest.fixture
def ready(fake_stripe):
    """An approved partner whose account receives payouts, and a completed order of 10.00 (share 7.00)."""
    partner = partner_make()
    account = account_make(partner, fake=fake_stripe)
    return partner, account, order_make(partner=partner)


def test_before_the_hold_nothing_after_it_one_transfer_and_the_order_paid_out(
        ready, fake_stripe, clock, fake_server, paid_signals, django_capture_on_commit_callbacks):
    partner, account, order = ready
    endpoint = webhook_endpoint_create(owner=partner.owner, url=fake_server.url + "/hooks", audience="partner",
                                       event_types=["payout.paid"])
    assert payouts_run()["due"] == 0
    assert fake_stripe.calls("POST", "/v1/transfers") == [] and not Payout.objects.exists()
    clock.advance(HOLD + 1)
    with django_capture_on_commit_callbacks(execute=True):
        summary = payouts_run()
    assert (summary["due"], summary["paid"], summary["held"], summary["failed"]) == (1, 1, 0, 0)
    sent = fake_stripe.last("POST", "/v1/transfers")
    assert sent["idempotency_key"] == f"payout-{order.pk}" and sent["api_key"] == "sk_live_fake_levqor"
    assert sent["form"] == {"amount": 700, "currency": "usd", "destination": account.stripe_account_id,
                            "transfer_group": f"order_{order.pk}", "source_transaction": order.charge_id,
                            "metadata": {"order_id": str(order.pk), "payout_id": str(Payout.objects.get().pk)}}
    [transfer] = fake_stripe.created("transfers")
    payout = Payout.objects.get()
    assert (payout.status, payout.stripe_transfer_id, payout.amount_minor, payout.attempts) == ("paid", transfer["id"],
                                                                                                700, 0)
    assert payout.paid_at is not None and payout.idempotency_key == f"payout-{order.pk}"
    order.refresh_from_db()
    assert order.status == "paid_out" and order.paid_out_at is not None
    assert [s["payout"].pk for s in paid_signals] == [payout.pk]
    # payout.paid reaches the partner's endpoint.
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    body = json.loads(fake_server.requests[-1]["body"])
    assert body["type"] == "payout.paid"
    assert body["data"]["order_id"] == str(order.pk) and body["data"]["stripe_transfer_id"] == transfer["id"]
    assert body["data"]["amount_minor"] == 700


def test_a_rerun_pays_nothing_twice(ready, fake_stripe, clock, paid_signals):
    _, _, order = ready
    clock.advance(HOLD + 1)
    assert payouts_run()["paid"] == 1
    assert payouts_run() == {"due": 0, "paid": 0, "failed": 0, "held": 0, "held_reasons": {}, "skipped": 0,
                             "reversed": 0, "stopped": False, "dry_run": False}
    assert len(fake_stripe.calls("POST", "/v1/transfers")) == 1 and len(paid_signals) == 1


def test_a_crash_after_the_transfer_is_finished_by_the_next_run_with_the_same_transfer(ready, fake_stripe, clock):
    """The transfer was made but the run died before recording it (the payout left pending): the
    next run finds it at Stripe (its transfer group) and settles with it, sending nothing again."""
    _, _, order = ready
    clock.advance(HOLD + 1)
    payouts_run()
    Payout.objects.update(status="pending", stripe_transfer_id="", paid_at=None)
    Order.objects.update(status="completed", paid_out_at=None)
    assert payouts_run()["paid"] == 1
    assert len(fake_stripe.created("transfers")) == 1
    keys = [r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/transfers")]
    assert keys == [f"payout-{order.pk}"]
    assert fake_stripe.last("GET", "/v1/transfers")["query"]["transfer_group"] == f"order_{order.pk}"
    assert Payout.objects.get().stripe_transfer_id == fake_stripe.created("transfers")[0]["id"]


@pytest.mark.parametrize("case, reason", [("no_account", "no Stripe account"),
                                          ("not_enabled", "payouts not enabled"),
                                          ("suspended", "partner suspended"),
                                          ("test_account_only", "no Stripe account")])
def test_a_partner_who_cannot_be_paid_is_held(fake_stripe, clock, case, reason):
    partner = partner_make()
    if case == "not_enabled":
        account_make(partner, payouts_enabled=False, fake=fake_stripe)
    if case == "suspended":
        account_make(partner, fake=fake_stripe)
        partner_status_change(partner=partner, action="suspend", actor=None, reason="Reports")
    if case == "test_account_only":
        account_make(partner, livemode=False, fake=fake_stripe)  # the order is live: a test account does not pay it
    order = order_make(partner=partner)
    clock.advance(HOLD + 1)
    summary = payouts_run()
    assert (summary["due"], summary["held"], summary["paid"], summary["held_reasons"]) == (1, 1, 0, {reason: 1})
    assert fake_stripe.calls("POST", "/v1/transfers") == [] and not Payout.objects.exists()
    order.refresh_from_db()
    assert order.status == "completed"


def test_a_held_order_is_paid_once_payouts_are_enabled(fake_stripe, clock):
    partner = partner_make()
    account = account_make(partner, payouts_enabled=False, fake=fake_stripe)
    order_make(partner=partner)
    clock.advance(HOLD + 1)
    assert payouts_run()["held"] == 1
    account.payouts_enabled = True
    account.save()
    assert payouts_run()["paid"] == 1


def test_stripe_refusing_is_failed_and_retried_with_a_new_key_by_the_next_run(ready, fake_stripe, clock):
    _, _, order = ready
    clock.advance(HOLD + 1)
    fake_stripe.fail_next(1, status=400, code="balance_insufficient", message="Insufficient funds")
    summary = payouts_run()
    assert (summary["failed"], summary["paid"]) == (1, 0)
    payout = Payout.objects.get()
    assert (payout.status, payout.attempts) == ("failed", 1) and "balance_insufficient" in payout.error
    order.refresh_from_db()
    assert order.status == "completed"
    assert payouts_run()["paid"] == 1
    payout.refresh_from_db()
    assert (payout.status, payout.attempts, payout.error) == ("paid", 1, "")
    # Stripe keeps the refusal for its key: the retry asks with the next attempt's key.
    keys = [r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/transfers")]
    assert keys == [f"payout-{order.pk}", f"payout-{order.pk}-2"]
    assert payout.idempotency_key == f"payout-{order.pk}-2"


def test_after_the_last_attempt_a_failed_payout_waits_for_an_operator(ready, fake_stripe, clock, settings):
    settings.PAYOUT_MAX_ATTEMPTS = 2
    clock.advance(HOLD + 1)
    fake_stripe.fail_next(2, status=400, code="account_invalid")
    payouts_run()
    payouts_run()
    assert Payout.objects.get().attempts == 2
    assert payouts_run()["due"] == 0 and len(fake_stripe.calls("POST", "/v1/transfers")) == 2


def test_stripe_out_of_reach_stops_the_run_and_the_next_pays_with_the_same_key(fake_stripe, clock):
    partner = partner_make()
    account_make(partner, fake=fake_stripe)
    first, second = order_make(partner=partner), order_make(partner=partner)
    clock.advance(HOLD + 1)
    fake_stripe.fail_next(3, status=503)  # the SDK's two network retries too
    summary = payouts_run()
    assert summary["stopped"] is True and summary["paid"] == 0
    assert Payout.objects.count() == 1 and Payout.objects.get().status == "pending"
    summary = payouts_run()
    assert summary["paid"] == 2 and not summary["stopped"]
    assert {r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/transfers")} == {
        f"payout-{first.pk}", f"payout-{second.pk}"}
    assert len(fake_stripe.created("transfers")) == 2


def test_refunded_unpaid_and_free_orders_are_never_paid(ready, fake_stripe, clock):
    partner, _, order = ready
    Order.objects.filter(pk=order.pk).update(status="refunded", amount_refunded_minor=1000)
    order_make(partner=partner, amount_minor=0)
    order_make(partner=partner, status="pending")
    clock.advance(HOLD + 1)
    assert payouts_run()["due"] == 0 and fake_stripe.calls("POST", "/v1/transfers") == []


def test_a_refund_after_the_payout_reverses_the_partners_share_proportionally(ready, fake_stripe, clock):
    _, _, order = ready
    clock.advance(HOLD + 1)
    payouts_run()
    transfer_id = Payout.objects.get().stripe_transfer_id
    # A partial refund of 4.00 of 10.00: 2.80 of the 7.00 transferred comes back.
    Order.objects.filter(pk=order.pk).update(status="refunded", amount_refunded_minor=400)
    assert reverse_task(str(order.pk)) == 280
    sent = fake_stripe.last("POST", f"/v1/transfers/{transfer_id}/reversals")
    assert sent["form"]["amount"] == 280 and sent["idempotency_key"] == f"payout-reversal-{order.pk}-280"
    payout = Payout.objects.get()
    assert (payout.status, payout.amount_reversed_minor) == ("reversed", 280)
    assert payout.stripe_reversal_id.startswith("trr_") and payout.reversed_at is not None
    # The task again: nothing more. The rest refunded: only the difference, never more than transferred.
    assert payout_reverse_for_order(order_id=order.pk) == 0
    Order.objects.filter(pk=order.pk).update(amount_refunded_minor=1000)
    assert payout_reverse_for_order(order_id=order.pk) == 420
    assert fake_stripe.last("POST", f"/v1/transfers/{transfer_id}/reversals")["idempotency_key"] == (
        f"payout-reversal-{order.pk}-700")
    assert fake_stripe.get("transfers", transfer_id)["amount_reversed"] == 700
    assert Payout.objects.get().amount_reversed_minor == 700
    assert len(fake_stripe.calls("POST", f"/v1/transfers/{transfer_id}/reversals")) == 2


def test_a_reversal_that_failed_is_made_by_the_next_run(ready, fake_stripe, clock):
    _, _, order = ready
    clock.advance(HOLD + 1)
    payouts_run()
    Order.objects.filter(pk=order.pk).update(status="refunded", amount_refunded_minor=1000)
    fake_stripe.fail_next(3, status=500)
    with pytest.raises(AppError) as failed:
        reverse_task(str(order.pk))
    assert failed.value.code == "service_unavailable"
    assert Payout.objects.get().status == "paid"
    assert payouts_run()["reversed"] == 1
    assert Payout.objects.get().amount_reversed_minor == 700


def test_an_order_refunded_while_its_transfer_was_made_is_reversed_at_once(ready, fake_stripe, clock, monkeypatch):
    _, _, order = ready
    clock.advance(HOLD + 1)
    # The refund lands (in this thread: the test's transaction) as Stripe answers the transfer.
    real_request = stripe.RequestsClient.request

    def request(self, method, url, *args, **kwargs):
        answer = real_request(self, method, url, *args, **kwargs)
        if method == "post" and url.endswith("/v1/transfers"):
            Order.objects.filter(pk=order.pk).update(status="refunded", amount_refunded_minor=1000)
        return answer

    monkeypatch.setattr(stripe.RequestsClient, "request", request)
    assert payouts_run()["paid"] == 1
    order.refresh_from_db()
    assert order.status == "refunded"
    payout = Payout.objects.get()
    assert (payout.status, payout.amount_reversed_minor) == ("reversed", 700)
    sent = fake_stripe.last("POST", f"/v1/transfers/{payout.stripe_transfer_id}/reversals")
    assert sent["idempotency_key"] == f"payout-reversal-{order.pk}-700"


def test_a_test_mode_order_is_paid_to_the_test_account_with_the_test_key(fake_stripe, clock):
    partner = partner_make()
    account = account_make(partner, livemode=False, fake=fake_stripe)
    order_make(partner=partner, livemode=False, charge_id="")
    clock.advance(HOLD + 1)
    assert payouts_run()["paid"] == 1
    sent = fake_stripe.last("POST", "/v1/transfers")
    assert sent["api_key"] == "sk_test_fake_levqor" and sent["form"]["destination"] == account.stripe_account_id
    assert "source_transaction" not in sent["form"]


def test_the_command_prints_each_order_and_the_counts(fake_stripe, clock, capsys):
    partner = partner_make(name="Acme Paid")
    account_make(partner, fake=fake_stripe)
    held = partner_make(name="Acme Held")
    order_make(partner=partner)
    order_make(partner=held)
    clock.advance(HOLD + 1)
    call_command("payouts_run", "--dry-run")
    out = capsys.readouterr().out
    assert "would be paid" in out and "held: no Stripe account" in out
    assert "2 due; 1 would be paid, 0 failed, 1 held (no Stripe account: 1)" in out
    assert fake_stripe.calls("POST", "/v1/transfers") == [] and not Payout.objects.exists()
    call_command("payouts_run")
    out = capsys.readouterr().out
    assert "2 due; 1 paid, 0 failed, 1 held (no Stripe account: 1), 0 skipped, 0 reversed." in out
    assert len(fake_stripe.created("transfers")) == 1


def test_two_runs_at_once_pay_once(transactional_db, fake_stripe, clock, paid_signals):
    partner = partner_make()
    account_make(partner, fake=fake_stripe)
    orders = [order_make(partner=partner) for _ in range(3)]
    clock.advance(HOLD + 1)
    results, errors = run_together(payouts_run, threads=3)
    assert errors == []
    assert sum(r["paid"] for r in results) == 3
    assert len(fake_stripe.created("transfers")) == 3 and len(paid_signals) == 3
    assert set(Payout.objects.values_list("status", flat=True)) == {"paid"}
    assert {t["metadata"]["order_id"] for t in fake_stripe.created("transfers")} == {str(o.pk) for o in orders}
