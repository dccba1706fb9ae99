"""Payouts on the money paths (review findings 2, 3, 4, 8, 10): Stripe keeps a refusal for its
idempotency key, so a refused transfer or reversal is retried with a new key (an unknown outcome
keeps it); a payout left pending is looked up at Stripe before it is sent again, also when its
order was refunded meanwhile; a partially refunded order is paid the share of what is left; only
staff with marketplace.retry_payout may retry failed payouts; an open dispute holds the payout."""

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission

from levqor.errors import AppError, ErrorCode
from marketplace.models import Order, Payout
from marketplace.selectors import orders_awaiting_payout
from marketplace.services.payout_reversals import payout_reversals_due, payout_reverse_for_order
from marketplace.services.payouts import payouts_run
from tests.factories import UserFactory
from tests.fake_stripe import stripe_event
from tests.marketplace.buying_support import deliver
from tests.marketplace.payouts_support import account_make, order_make, partner_make

pytestmark = pytest.mark.django_db
HOLD = settings.PAYOUT_HOLD_DAYS * 86400


@pytest.fixture
def ready(fake_stripe):
    partner = partner_make()
    account = account_make(partner, fake=fake_stripe)
    return partner, account, order_make(partner=partner)


def test_the_fake_keeps_a_refusal_for_its_key_as_stripe_does(fake_stripe):
    import stripe

    client = stripe.StripeClient("sk_test_x", base_addresses={"api": fake_stripe.url}, max_network_retries=0)
    fake_stripe.fail_next(1, status=400, code="account_invalid")
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.transfers.create(params={"amount": 1, "currency": "usd", "destination": "acct_x"},
                                       options={"idempotency_key": "k1"})
    assert client.v1.transfers.create(params={"amount": 1, "currency": "usd", "destination": "acct_x"},
                                      options={"idempotency_key": "k2"}).amount == 1


def test_a_refused_reversal_is_retried_with_a_new_key_and_an_unknown_one_keeps_it(ready, fake_stripe, clock):
    _, _, order = ready
    clock.advance(HOLD + 1)
    payouts_run()
    Order.objects.filter(pk=order.pk).update(amount_refunded_minor=400)
    base = f"payout-reversal-{order.pk}-280"
    fake_stripe.fail_next(3, status=503)  # the SDK's retries too: unknown, the key is kept
    with pytest.raises(AppError) as unknown:
        payout_reverse_for_order(order_id=order.pk)
    assert unknown.value.code == ErrorCode.SERVICE_UNAVAILABLE
    assert Payout.objects.get().reversal_idempotency_key == ""
    fake_stripe.fail_next(1, status=400, code="insufficient_funds")
    with pytest.raises(AppError) as refused:
        payout_reverse_for_order(order_id=order.pk)
    assert refused.value.code == ErrorCode.BILLING_PROVIDER_ERROR
    assert Payout.objects.get().reversal_idempotency_key == f"{base}-2"
    assert payout_reversals_due() == 1
    keys = [r["idempotency_key"] for r in fake_stripe.calls("POST") if r["path"].endswith("/reversals")]
    assert keys[-2:] == [base, f"{base}-2"] and set(keys[:-2]) == {base}
    payout = Payout.objects.get()
    assert (payout.amount_reversed_minor, payout.reversal_idempotency_key) == (280, f"{base}-2")


def test_a_conflict_on_the_key_keeps_the_payout_pending_with_the_same_key(ready, fake_stripe, clock):
    _, _, order = ready
    clock.advance(HOLD + 1)
    fake_stripe.fail_next(3, status=409, code="idempotency_key_in_use")  # the key in flight (the SDK retries twice)
    assert payouts_run()["skipped"] == 1
    payout = Payout.objects.get()
    assert (payout.status, payout.attempts, payout.idempotency_key) == ("pending", 0, f"payout-{order.pk}")
    assert payouts_run()["paid"] == 1  # looked up (none made), then sent again with the same key
    assert [r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/transfers")] == [f"payout-{order.pk}"] * 4


def test_a_pending_payout_is_looked_up_at_stripe_before_it_is_sent_again(ready, fake_stripe, clock):
    partner, account, order = ready
    clock.advance(HOLD + 1)
    # The transfer was made but Stripe's answer was lost (timeout): the payout stays pending.
    payout = Payout.objects.create(order=order, partner=partner, connect_account=account, amount_minor=700,
                                   currency="usd", idempotency_key=f"payout-{order.pk}")
    made = fake_stripe.put("transfers", {"amount": 700, "currency": "usd", "transfer_group": f"order_{order.pk}",
                                         "destination": account.stripe_account_id,
                                         "metadata": {"order_id": str(order.pk), "payout_id": str(payout.pk)}})
    assert payouts_run()["paid"] == 1
    assert fake_stripe.calls("POST", "/v1/transfers") == []  # a day later the key may be gone: not re-sent
    payout.refresh_from_db()
    assert (payout.status, payout.stripe_transfer_id) == ("paid", made["id"])


def test_a_pending_payout_of_an_order_refunded_meanwhile_is_settled_then_reversed(ready, fake_stripe, clock):
    partner, account, order = ready
    other = order_make(partner=partner)
    clock.advance(HOLD + 1)
    payout = Payout.objects.create(order=order, partner=partner, connect_account=account, amount_minor=700,
                                   currency="usd", idempotency_key=f"payout-{order.pk}")
    fake_stripe.put("transfers", {"amount": 700, "currency": "usd", "transfer_group": f"order_{order.pk}",
                                  "metadata": {"payout_id": str(payout.pk)}})
    never = Payout.objects.create(order=other, partner=partner, connect_account=account, amount_minor=700,
                                  currency="usd", idempotency_key=f"payout-{other.pk}")
    Order.objects.filter(pk__in=[order.pk, other.pk]).update(status="refunded", amount_refunded_minor=1000,
                                                             refunded_at=order.completed_at)
    payouts_run()  # settled with the transfer found, which is reversed at once
    payout.refresh_from_db()
    assert (payout.status, payout.amount_reversed_minor) == ("reversed", 700)
    never.refresh_from_db()
    assert never.status == "failed" and "nothing is owed" in never.error
    assert fake_stripe.calls("POST", "/v1/transfers") == []
    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_a_partially_refunded_unpaid_order_is_paid_what_is_left(ready, fake_stripe, clock):
    partner, _, order = ready
    Order.objects.filter(pk=order.pk).update(amount_refunded_minor=100)
    assert list(orders_awaiting_payout(partner, livemode=True)) == [Order.objects.get(pk=order.pk)]
    clock.advance(HOLD + 1)
    summary = payouts_run()
    assert (summary["due"], summary["paid"]) == (1, 1)
    # 700 share - 700 * 100 // 1000 = 630; nothing to reverse afterwards.
    assert int(fake_stripe.last("POST", "/v1/transfers")["form"]["amount"]) == 630
    payout = Payout.objects.get()
    assert (payout.amount_minor, payout.amount_reversed_minor, payout.status) == (630, 0, "paid")
    # Refunded in full later: what was transferred comes back, no more.
    Order.objects.filter(pk=order.pk).update(amount_refunded_minor=1000)
    assert payout_reverse_for_order(order_id=order.pk) == 630


def test_retrying_failed_payouts_needs_the_retry_permission(ready, fake_stripe, clock):
    from django.test import Client

    _, _, order = ready
    clock.advance(HOLD + 1)
    fake_stripe.fail_next(1, status=400, code="account_invalid")
    payouts_run()
    payout = Payout.objects.get()
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_payout"))
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/marketplace/payout/").status_code == 200
    answer = client.post("/admin/marketplace/payout/", {"action": "retry_failed", "_selected_action": [payout.pk]},
                         follow=True)
    payout.refresh_from_db()
    assert payout.status == "failed" and len(fake_stripe.calls("POST", "/v1/transfers")) == 1
    assert answer.status_code == 200
    staff.user_permissions.add(Permission.objects.get(codename="retry_payout"))
    staff = type(staff).objects.get(pk=staff.pk)  # permissions are cached on the user
    client.force_login(staff)
    client.post("/admin/marketplace/payout/", {"action": "retry_failed", "_selected_action": [payout.pk]})
    payout.refresh_from_db()
    assert payout.status == "paid"


def _dispute(event_type: str, order: Order, *, status: str) -> dict:
    return stripe_event(event_type, {"id": "dp_1", "object": "dispute", "charge": order.charge_id, "amount": 1000,
                                     "currency": "usd", "reason": "fraudulent", "status": status})


def test_an_open_dispute_holds_the_orders_payout_until_it_is_won(ready, fake_stripe, clock, capture):
    _, _, order = ready
    deliver(_dispute("charge.dispute.created", order, status="needs_response"), capture)
    assert Order.objects.get(pk=order.pk).disputed_at is not None
    clock.advance(HOLD + 1)
    summary = payouts_run()
    assert (summary["held"], summary["held_reasons"], summary["paid"]) == (1, {"disputed": 1}, 0)
    assert fake_stripe.calls("POST", "/v1/transfers") == []
    deliver(_dispute("charge.dispute.closed", order, status="won"), capture)
    assert payouts_run()["paid"] == 1
