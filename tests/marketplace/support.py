"""Helpers of the billing tests: signed webhook deliveries, Stripe objects in the shapes Stripe
sends, the tiers' prices synced the way an operator does it, and the workers run in-process."""

import time
from contextlib import contextmanager

from django.core.management import call_command
from django.test import Client

from marketplace.models import StripeCustomer
from tests.conftest import STRIPE_TEST_WEBHOOK_SECRET
from tests.fake_stripe import stripe_event, stripe_webhook_body
from tests.jobs.support import tasks_drain

DAY = 86400


def prices_synced(*, test: bool = False) -> None:
    """stripe_sync_products against the fake, as an operator runs it before selling."""
    call_command("stripe_sync_products", *(["--test"] if test else []), stdout=open("/dev/null", "w"))


def webhook_post(event: dict, *, secret: str = STRIPE_TEST_WEBHOOK_SECRET, timestamp: int | None = None,
                 client: Client | None = None, header: str | None = None, body: bytes | None = None):
    signed_body, signature = stripe_webhook_body(event, secret, timestamp=timestamp)
    extra = {} if header == "" else {"HTTP_STRIPE_SIGNATURE": signature if header is None else header}
    return (client or Client(enforce_csrf_checks=True)).post(
        "/webhooks/stripe", data=body if body is not None else signed_body, content_type="application/json", **extra)


def deliver(event: dict, capture) -> list:
    """The event delivered (signed), its on-commit hand-over run, and the workers drained."""
    with capture(execute=True):
        response = webhook_post(event)
    assert response.status_code == 200, response.content
    with capture(execute=True):
        return tasks_drain()


def customer_for(user, *, livemode: bool = True, stripe_id: str | None = None) -> StripeCustomer:
    return StripeCustomer.objects.create(user=user, livemode=livemode,
                                         stripe_id=stripe_id or f"cus_{'live' if livemode else 'test'}_{user.pk.hex[:10]}")


def subscription_object(*, sub_id: str = "sub_1", customer: str, tier: str = "pro", status: str = "active",
                        period_end: int | None = None, cancel_at_period_end: bool = False,
                        price_id: str | None = None) -> dict:
    """A subscription as Stripe's event carries it (the period end on the item, as API 2025+ does)."""
    end = period_end if period_end is not None else int(time.time()) + 30 * DAY
    return {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
            "cancel_at_period_end": cancel_at_period_end, "metadata": {},
            "items": {"object": "list", "data": [{
                "id": f"si_{sub_id}", "current_period_end": end,
                "price": {"id": price_id or f"price_{tier}", "object": "price",
                          "lookup_key": f"levqor_{tier}_monthly", "unit_amount": 1900, "currency": "usd"}}]}}


def subscription_event(kind: str, obj: dict, *, created: int | None = None, livemode: bool = True, **kwargs) -> dict:
    return stripe_event(f"customer.subscription.{kind}", obj, created=created, livemode=livemode, **kwargs)


@contextmanager
def signals_recorded(*names: str):
    """What marketplace's signals `names` sent while inside, by name (a list of each send's
    kwargs): what the receivers of other apps (the ledger, growth) are given."""
    from marketplace import signals

    seen = {name: [] for name in names}
    def recorder(found: list):
        return lambda sender, **kw: found.append(kw)

    receivers = {name: recorder(seen[name]) for name in names}
    for name, receiver in receivers.items():
        getattr(signals, name).connect(receiver, weak=False)
    try:
        yield seen
    finally:
        for name, receiver in receivers.items():
            getattr(signals, name).disconnect(receiver)
