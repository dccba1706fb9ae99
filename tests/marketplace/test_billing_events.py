"""What each Stripe event does once processed on the workers: tiers up at once and down at the end
of the period paid for, out-of-order events never moving a subscription backwards, dunning with
an email and a grace period, money signals for the ledger, disputes alerting, and modes kept apart."""

import time

import pytest
from django.core import mail

from accounts.models import TierChange
from intelligence.models import Alert
from marketplace.models import CheckoutSession, StripeEvent, Subscription
from marketplace.services.subscriptions import subscriptions_due_sweep
from tests.factories import UserFactory
from tests.fake_stripe import stripe_event
from tests.marketplace.support import DAY, customer_for, deliver, signals_recorded, subscription_event, subscription_object


@pytest.fixture
def live(db, fake_stripe):
    user = UserFactory(tier="sandbox")
    customer = customer_for(user)
    return user, customer


@pytest.fixture
def received():
    """What marketplace's signals sent, by name: the receivers of other parts (ledger) see this."""
    with signals_recorded("subscription_changed", "invoice_paid", "charge_refunded", "stripe_event_processed") as seen:
        yield seen


def _tier(user) -> str:
    user.refresh_from_db()
    return user.tier


def _status(event) -> tuple[str, str]:
    stored = StripeEvent.objects.get(pk=event["id"])
    return stored.status, stored.note


def test_checkout_completed_fetches_the_subscription_and_raises_the_tier_at_once(live, fake_stripe, capture,
                                                                                 received):
    user, customer = live
    CheckoutSession.objects.create(stripe_id="cs_1", user=user, tier="pro", url="https://checkout.stripe.test/x")
    fake_stripe.put("subscriptions", subscription_object(sub_id="sub_1", customer=customer.stripe_id, tier="pro"))
    event = stripe_event("checkout.session.completed", {"id": "cs_1", "object": "checkout.session",
                                                        "mode": "subscription", "customer": customer.stripe_id,
                                                        "subscription": "sub_1", "client_reference_id": str(user.pk)})
    deliver(event, capture)
    fetched = fake_stripe.last("GET", "/v1/subscriptions/sub_1")
    assert fetched["api_key"] == "sk_live_fake_levqor"
    assert CheckoutSession.objects.get().status == "complete" and CheckoutSession.objects.get().completed_at
    subscription = Subscription.objects.get()
    assert (subscription.user, subscription.tier, subscription.status, subscription.livemode) == (
        user, "pro", "active", True)
    assert subscription.event_created == event["created"] and subscription.current_period_end is not None
    assert _tier(user) == "pro"
    change = TierChange.objects.get(user=user)
    assert (change.old_tier, change.new_tier, change.source) == ("sandbox", "pro", "stripe")
    assert "sub_1" in change.reason
    assert [(c["old_tier"], c["new_tier"]) for c in received["subscription_changed"]] == [("sandbox", "pro")]
    assert [c["event"].pk for c in received["stripe_event_processed"]] == [event["id"]]
    # customer.subscription.created of the same subscription, after: nothing moves again.
    deliver(subscription_event("created", subscription_object(sub_id="sub_1", customer=customer.stripe_id)), capture)
    assert TierChange.objects.filter(user=user).count() == 1


def test_a_payment_checkout_is_ignored(live, capture):
    event = stripe_event("checkout.session.completed", {"id": "cs_2", "mode": "payment", "customer": live[1].stripe_id})
    deliver(event, capture)
    assert _status(event) == ("ignored", "a payment checkout: not a subscription")


def test_up_at_once_down_at_the_end_of_the_period(live, capture, clock):
    user, customer = live
    now = int(time.time())
    end = now + 10 * DAY
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id, tier="pro",
                                                              period_end=end), created=now), capture)
    assert _tier(user) == "pro"
    deliver(subscription_event("updated", subscription_object(customer=customer.stripe_id, tier="enterprise",
                                                              period_end=end), created=now + 1), capture)
    assert _tier(user) == "enterprise"  # up: at once
    deliver(subscription_event("updated", subscription_object(customer=customer.stripe_id, tier="pro",
                                                              period_end=end), created=now + 2), capture)
    assert _tier(user) == "enterprise"  # down: kept until the period paid for ends
    assert Subscription.objects.get().pending_tier == "pro"
    clock.advance(10 * DAY - 60)
    subscriptions_due_sweep()
    assert _tier(user) == "enterprise"
    clock.advance(120)
    subscriptions_due_sweep()
    assert _tier(user) == "pro"
    subscription = Subscription.objects.get()
    assert (subscription.tier, subscription.pending_tier) == ("pro", "")
    assert "end of the period" in TierChange.objects.filter(user=user).latest("id").reason


def test_cancel_at_period_end_keeps_the_tier_until_then_and_deleted_means_sandbox(live, capture, clock):
    user, customer = live
    now = int(time.time())
    end = now + 5 * DAY
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id, period_end=end),
                               created=now), capture)
    deliver(subscription_event("updated", subscription_object(customer=customer.stripe_id, period_end=end,
                                                              cancel_at_period_end=True), created=now + 1), capture)
    assert _tier(user) == "pro"
    clock.advance(5 * DAY + 1)
    subscriptions_due_sweep()
    assert _tier(user) == "sandbox"
    assert "cancelled at the end of its period" in TierChange.objects.filter(user=user).latest("id").reason
    assert subscriptions_due_sweep() == 0  # done: the sweep does not come back to it
    deliver(subscription_event("deleted", subscription_object(customer=customer.stripe_id, status="canceled",
                                                              period_end=end), created=now + 2), capture)
    assert Subscription.objects.get().status == "canceled" and _tier(user) == "sandbox"


def test_deleted_means_the_period_ended_sandbox_at_once(live, capture):
    user, customer = live
    now = int(time.time())
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id, tier="enterprise"),
                               created=now), capture)
    assert _tier(user) == "enterprise"
    deliver(subscription_event("deleted", subscription_object(customer=customer.stripe_id, tier="enterprise",
                                                              status="active"), created=now + 1), capture)
    assert Subscription.objects.get().status == "canceled" and _tier(user) == "sandbox"


def test_out_of_order_events_never_move_a_subscription_backwards(live, capture):
    user, customer = live
    now = int(time.time())
    deleted = subscription_event("deleted", subscription_object(customer=customer.stripe_id, status="canceled"),
                                 created=now + 20)
    late_update = subscription_event("updated", subscription_object(customer=customer.stripe_id, tier="enterprise"),
                                     created=now + 10)
    late_create = subscription_event("created", subscription_object(customer=customer.stripe_id), created=now)
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id), created=now), capture)
    deliver(deleted, capture)
    assert _tier(user) == "sandbox"
    deliver(late_update, capture)
    deliver(late_create, capture)
    subscription = Subscription.objects.get()
    assert (subscription.status, subscription.tier, subscription.event_created) == ("canceled", "pro", now + 20)
    assert _tier(user) == "sandbox"
    status, note = _status(late_update)
    assert status == "processed" and note.startswith("stale")
    assert TierChange.objects.filter(user=user).count() == 2  # up with the first, down with deleted; no more


def test_payment_failed_emails_keeps_the_tier_for_the_grace_then_sandbox(live, capture, clock, settings):
    user, customer = live
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id, period_end=int(
        time.time()) + 60 * DAY)), capture)
    invoice = {"id": "in_1", "object": "invoice", "customer": customer.stripe_id, "subscription": "sub_1",
               "amount_due": 1900, "currency": "usd", "hosted_invoice_url": "https://invoice.stripe.test/in_1"}
    deliver(stripe_event("invoice.payment_failed", invoice), capture)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email] and "payment failed" in message.subject
    assert "19.00 USD" in message.body and "https://invoice.stripe.test/in_1" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "sandbox" in html
    subscription = Subscription.objects.get()
    assert subscription.grace_until is not None
    first_grace = subscription.grace_until
    # Stripe's retry fails again: another email, the grace does not grow.
    deliver(stripe_event("invoice.payment_failed", invoice), capture)
    assert len(mail.outbox) == 2 and Subscription.objects.get().grace_until == first_grace
    clock.advance(settings.BILLING_GRACE_DAYS * DAY - 3600)
    subscriptions_due_sweep()
    assert _tier(user) == "pro"
    clock.advance(7200)
    subscriptions_due_sweep()
    assert _tier(user) == "sandbox"
    assert "grace period ended" in TierChange.objects.filter(user=user).latest("id").reason


def test_invoice_paid_clears_the_grace_and_tells_the_ledger(live, capture, received, clock):
    user, customer = live
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id)), capture)
    failed = {"id": "in_1", "customer": customer.stripe_id, "subscription": "sub_1", "amount_due": 1900,
              "currency": "usd"}
    deliver(stripe_event("invoice.payment_failed", failed), capture)
    paid = {**failed, "amount_paid": 1900, "currency": "usd", "charge": "ch_1", "status_transitions": {"paid_at": 1700000000}}
    event = stripe_event("invoice.paid", paid)
    deliver(event, capture)
    assert Subscription.objects.get().grace_until is None
    [sent] = received["invoice_paid"]
    assert (sent["user"], sent["livemode"], sent["invoice_id"], sent["charge_id"], sent["amount_minor"],
            sent["currency"]) == (user, True, "in_1", "ch_1", 1900, "usd")
    assert sent["paid_at"].timestamp() == 1700000000 and sent["event"].pk == event["id"]
    clock.advance(30 * DAY)
    subscriptions_due_sweep()
    assert _tier(user) == "pro"  # paid: no sandbox


def test_a_late_payment_after_sandbox_gives_the_tier_back(live, capture, clock, settings):
    user, customer = live
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id,
                                                              period_end=int(time.time()) + 60 * DAY)), capture)
    deliver(stripe_event("invoice.payment_failed", {"id": "in_1", "customer": customer.stripe_id,
                                                    "subscription": "sub_1"}), capture)
    clock.advance(settings.BILLING_GRACE_DAYS * DAY + 1)
    subscriptions_due_sweep()
    assert _tier(user) == "sandbox"
    deliver(stripe_event("invoice.paid", {"id": "in_1", "customer": customer.stripe_id, "subscription": "sub_1",
                                          "amount_paid": 1900, "currency": "usd"}), capture)
    assert _tier(user) == "pro"


def test_charge_refunded_tells_the_ledger_even_for_a_customer_not_ours(live, capture, received):
    user, customer = live
    deliver(stripe_event("charge.refunded", {"id": "ch_1", "customer": customer.stripe_id, "amount_refunded": 500,
                                             "currency": "usd", "refunds": {"data": [{"created": 1700000100}]}}),
            capture)
    other = stripe_event("charge.refunded", {"id": "ch_2", "customer": "cus_stranger", "amount_refunded": 100,
                                             "currency": "eur"})
    deliver(other, capture)
    first, second = received["charge_refunded"]
    assert (first["user"], first["charge_id"], first["amount_refunded_minor"], first["currency"]) == (
        user, "ch_1", 500, "usd")
    assert first["refunded_at"].timestamp() == 1700000100
    assert second["user"] is None and second["charge_id"] == "ch_2"
    assert _status(other) == ("processed", "customer cus_stranger is not ours")


def test_a_dispute_raises_one_critical_alert_per_dispute(live, capture):
    dispute = {"id": "dp_1", "object": "dispute", "charge": "ch_1", "amount": 1900, "currency": "usd",
               "reason": "fraudulent"}
    deliver(stripe_event("charge.dispute.created", dispute), capture)
    deliver(stripe_event("charge.dispute.created", dispute), capture)  # Stripe sent it twice (two event ids)
    [alert] = Alert.objects.filter(source="billing")
    assert alert.severity == "critical" and alert.count == 2 and "dp_1" in alert.title and "19.00 USD" in alert.title
    assert alert.dedup_key == "billing:dispute:dp_1" and "ch_1" in alert.body
    deliver(stripe_event("charge.dispute.created", {**dispute, "id": "dp_2"}, livemode=False), capture)
    assert Alert.objects.get(dedup_key="billing:dispute:dp_2").severity == "warning"


def test_events_of_customers_we_do_not_know_are_ignored_with_the_reason(db, fake_stripe, capture):
    event = subscription_event("created", subscription_object(customer="cus_unknown"))
    deliver(event, capture)
    assert _status(event) == ("ignored", "customer cus_unknown is not ours")
    assert not Subscription.objects.exists()
    failed = stripe_event("invoice.payment_failed", {"id": "in_1", "customer": "cus_unknown"})
    deliver(failed, capture)
    assert _status(failed)[0] == "ignored" and mail.outbox == []


def test_a_price_that_is_no_tier_is_ignored(live, capture):
    obj = subscription_object(customer=live[1].stripe_id, price_id="price_other")
    obj["items"]["data"][0]["price"]["lookup_key"] = "someone_elses"
    event = subscription_event("created", obj)
    deliver(event, capture)
    assert _status(event) == ("ignored", "price price_other is not a paid tier's")
    assert _tier(live[0]) == "sandbox"


def test_other_types_are_stored_and_ignored(live, capture):
    event = stripe_event("payment_intent.created", {"id": "pi_1"})
    deliver(event, capture)
    assert _status(event) == ("ignored", "a type billing does not handle")


def test_test_mode_subscriptions_are_recorded_but_never_change_a_tier_or_send_email(db, fake_stripe, capture):
    user = UserFactory(tier="sandbox")
    test_customer = customer_for(user, livemode=False)
    event = subscription_event("created", subscription_object(customer=test_customer.stripe_id, tier="enterprise"),
                               livemode=False)
    deliver(event, capture)
    subscription = Subscription.objects.get()
    assert (subscription.livemode, subscription.tier, subscription.status) == (False, "enterprise", "active")
    assert _tier(user) == "sandbox" and not TierChange.objects.exists()
    assert _status(event) == ("processed", "test-mode subscription: no tier change")
    deliver(stripe_event("invoice.payment_failed", {"id": "in_1", "customer": test_customer.stripe_id,
                                                    "subscription": "sub_1"}, livemode=False), capture)
    assert mail.outbox == []


def test_a_test_mode_event_for_a_live_customer_counts_only_where_the_live_key_is_a_test_key(live, capture, settings):
    user, customer = live
    event = subscription_event("created", subscription_object(customer=customer.stripe_id), livemode=False)
    deliver(event, capture)
    assert _status(event)[0] == "ignored" and _tier(user) == "sandbox"
    settings.STRIPE_SECRET_KEY = "sk_test_staging"  # staging: Stripe sends every event as test mode
    again = subscription_event("created", subscription_object(customer=customer.stripe_id), livemode=False)
    deliver(again, capture)
    assert _status(again) == ("processed", "") and _tier(user) == "pro"


def test_a_live_event_for_a_test_customer_is_ignored(db, fake_stripe, capture):
    user = UserFactory(tier="sandbox")
    test_customer = customer_for(user, livemode=False)
    event = subscription_event("created", subscription_object(customer=test_customer.stripe_id), livemode=True)
    deliver(event, capture)
    assert _status(event)[0] == "ignored" and not Subscription.objects.exists()


def test_a_test_mode_checkout_fetches_its_subscription_with_the_test_key_only(db, fake_stripe, capture):
    user = UserFactory(tier="sandbox")
    test_customer = customer_for(user, livemode=False)
    fake_stripe.put("subscriptions", subscription_object(sub_id="sub_t", customer=test_customer.stripe_id))
    deliver(stripe_event("checkout.session.completed", {"id": "cs_t", "mode": "subscription",
                                                        "customer": test_customer.stripe_id, "subscription": "sub_t"},
                         livemode=False), capture)
    assert {r["api_key"] for r in fake_stripe.requests} == {"sk_test_fake_levqor"}
    assert Subscription.objects.get().livemode is False and _tier(user) == "sandbox"


def test_an_expired_checkout_is_recorded(live, capture):
    CheckoutSession.objects.create(stripe_id="cs_9", user=live[0], tier="pro")
    deliver(stripe_event("checkout.session.expired", {"id": "cs_9", "mode": "subscription"}), capture)
    assert CheckoutSession.objects.get().status == "expired"
    again = stripe_event("checkout.session.expired", {"id": "cs_9", "mode": "subscription"})
    deliver(again, capture)
    assert _status(again) == ("ignored", "no open checkout session of ours")


def test_amounts_in_a_zero_or_three_decimal_currency_are_shown_as_that_currency_has_them(live, capture):
    """500 JPY is 500 yen (no minor unit), 1500 KWD minor units 1.500 dinars: not 5.00 and 15.00."""
    user, customer = live
    deliver(stripe_event("charge.dispute.created", {"id": "dp_jpy", "object": "dispute", "charge": "ch_1",
                                                    "amount": 500, "currency": "jpy", "reason": "fraudulent"}), capture)
    assert "500 JPY" in Alert.objects.get(dedup_key="billing:dispute:dp_jpy").title
    deliver(stripe_event("invoice.payment_failed", {"id": "in_kwd", "object": "invoice", "customer": customer.stripe_id,
                                                    "amount_due": 1500, "currency": "kwd"}), capture)
    [message] = mail.outbox
    assert "1.500 KWD" in message.body and "1.500 KWD" in message.alternatives[0][0]


def _failed_invoice(customer, **extra) -> dict:
    return {"id": "in_1", "object": "invoice", "customer": customer.stripe_id, "subscription": "sub_1",
            "amount_due": 1900, "currency": "usd", **extra}


def test_a_failure_delivered_after_the_later_payment_keeps_the_paying_user(live, capture, clock, settings):
    user, customer = live
    now = int(time.time())
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id, period_end=now + 60 * DAY),
                               created=now), capture)
    failed = stripe_event("invoice.payment_failed", _failed_invoice(customer), created=now + 10)
    paid = stripe_event("invoice.paid", {**_failed_invoice(customer), "amount_paid": 1900}, created=now + 100)
    deliver(paid, capture)  # Stripe delivered the later event first
    deliver(failed, capture)
    assert Subscription.objects.get().grace_until is None
    status, note = _status(failed)
    assert status == "processed" and note.startswith("stale")
    assert mail.outbox == []  # nobody is told to pay what they paid
    clock.advance(settings.BILLING_GRACE_DAYS * DAY + 60)
    subscriptions_due_sweep()
    assert _tier(user) == "pro"


def test_a_payment_older_than_the_failure_does_not_end_the_grace(live, capture):
    user, customer = live
    now = int(time.time())
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id), created=now), capture)
    deliver(stripe_event("invoice.payment_failed", _failed_invoice(customer, id="in_2"), created=now + 100), capture)
    # last month's invoice.paid, delivered late: this month's failure still stands
    deliver(stripe_event("invoice.paid", {**_failed_invoice(customer), "amount_paid": 1900}, created=now + 10), capture)
    assert Subscription.objects.get().grace_until is not None


def test_a_newer_active_subscription_event_ends_the_grace(live, capture):
    user, customer = live
    now = int(time.time())
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id), created=now), capture)
    deliver(stripe_event("invoice.payment_failed", _failed_invoice(customer), created=now + 10), capture)
    # an update from before the failure (delivered late) says nothing about the payment
    deliver(subscription_event("updated", subscription_object(customer=customer.stripe_id), created=now + 5), capture)
    assert Subscription.objects.get().grace_until is not None
    deliver(subscription_event("updated", subscription_object(customer=customer.stripe_id, status="past_due"),
                               created=now + 11), capture)
    assert Subscription.objects.get().grace_until is not None
    # paid: Stripe says active again (its invoice.paid lost or still on its way)
    deliver(subscription_event("updated", subscription_object(customer=customer.stripe_id), created=now + 500),
            capture)
    assert Subscription.objects.get().grace_until is None
    # and the failure, were it delivered again late, is stale
    deliver(stripe_event("invoice.payment_failed", _failed_invoice(customer), created=now + 20), capture)
    assert Subscription.objects.get().grace_until is None


def test_process_again_on_a_failed_payment_does_not_email_twice(live, capture):
    from marketplace.services.billing_events import stripe_event_retry
    from tests.jobs.support import tasks_drain

    user, customer = live
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id)), capture)
    failed = stripe_event("invoice.payment_failed", _failed_invoice(customer))
    deliver(failed, capture)
    assert len(mail.outbox) == 1
    with capture(execute=True):
        stripe_event_retry(event=StripeEvent.objects.get(pk=failed["id"]))
    with capture(execute=True):
        tasks_drain()
    status, note = _status(failed)
    assert status == "processed" and "emailed about it already" in note
    assert len(mail.outbox) == 1


def test_the_sweep_asks_stripe_before_the_grace_ends_in_sandbox(live, capture, clock, settings, fake_stripe):
    user, customer = live
    deliver(subscription_event("created", subscription_object(customer=customer.stripe_id, period_end=int(
        time.time()) + 60 * DAY)), capture)
    deliver(stripe_event("invoice.payment_failed", _failed_invoice(customer)), capture)
    clock.advance(settings.BILLING_GRACE_DAYS * DAY + 60)
    fake_stripe.put("subscriptions", subscription_object(customer=customer.stripe_id, status="past_due"))
    fake_stripe.fail_next(3, status=503)  # Stripe down: no downgrade on a guess, asked again next time
    subscriptions_due_sweep()
    assert _tier(user) == "pro" and Subscription.objects.get().grace_until is not None
    # Stripe says it was paid (the events late): the grace ends, the tier stays
    fake_stripe.get("subscriptions", "sub_1")["status"] = "active"
    subscriptions_due_sweep()
    assert _tier(user) == "pro" and Subscription.objects.get().grace_until is None
    assert fake_stripe.last("GET", "/v1/subscriptions/sub_1")["api_key"] == "sk_live_fake_levqor"
    # a later failure that Stripe confirms still unpaid: sandbox
    deliver(stripe_event("invoice.payment_failed", _failed_invoice(customer, id="in_2"),
                         created=int(time.time()) + 30 * DAY), capture)
    assert Subscription.objects.get().grace_until is not None
    clock.advance(settings.BILLING_GRACE_DAYS * DAY + 60)
    fake_stripe.get("subscriptions", "sub_1")["status"] = "past_due"
    subscriptions_due_sweep()
    assert _tier(user) == "sandbox"


def test_a_cancelled_subscription_is_not_due_again(live, capture, clock):
    user, customer = live
    now = int(time.time())
    end = now + 5 * DAY
    deliver(subscription_event("created", subscription_object(sub_id="sub_a", customer=customer.stripe_id,
                                                              period_end=end), created=now), capture)
    deliver(subscription_event("updated", subscription_object(sub_id="sub_a", customer=customer.stripe_id,
                                                              period_end=end, cancel_at_period_end=True),
                               created=now + 1), capture)
    clock.advance(5 * DAY + 10)
    assert subscriptions_due_sweep() == 1  # the period ended: sandbox, before Stripe's deleted arrives
    assert _tier(user) == "sandbox"
    deliver(subscription_event("deleted", subscription_object(sub_id="sub_a", customer=customer.stripe_id,
                                                              status="canceled", period_end=end,
                                                              cancel_at_period_end=True),
                               created=now + 5 * DAY + 5), capture)
    deliver(subscription_event("created", subscription_object(sub_id="sub_b", customer=customer.stripe_id,
                                                              period_end=now + 40 * DAY), created=now + 6 * DAY),
            capture)
    assert _tier(user) == "pro"
    assert [subscriptions_due_sweep() for _ in range(3)] == [0, 0, 0]
    assert _tier(user) == "pro"


def test_checkout_completed_asks_stripe_before_opening_the_transaction(live, fake_stripe, capture):
    from django.db import connections

    from marketplace.services.billing_events import stripe_event_process
    from tests.marketplace.support import webhook_post

    user, customer = live
    fake_stripe.put("subscriptions", subscription_object(sub_id="sub_1", customer=customer.stripe_id))
    event = stripe_event("checkout.session.completed", {"id": "cs_1", "object": "checkout.session",
                                                        "mode": "subscription", "customer": customer.stripe_id,
                                                        "subscription": "sub_1"})
    with capture():
        assert webhook_post(event).status_code == 200  # stored, not processed yet
    connection = connections["default"]
    outside = len(connection.atomic_blocks)  # the test's own transaction
    depth_while_stripe_answers = []
    fake_stripe.on_request = lambda method, path: depth_while_stripe_answers.append(len(connection.atomic_blocks))
    # Stripe failing: an attempt counted, nothing held, the event left for the sweep
    fake_stripe.fail_next(3, status=503)
    assert stripe_event_process(event_id=event["id"]) == "received"
    assert StripeEvent.objects.get(pk=event["id"]).attempts == 1
    assert stripe_event_process(event_id=event["id"]) == "processed"
    assert depth_while_stripe_answers and set(depth_while_stripe_answers) == {outside}  # no lock, no transaction
    assert _tier(user) == "pro"
