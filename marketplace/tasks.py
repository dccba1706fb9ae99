"""django-q2 entry points of marketplace: load ids, call a service. No logic."""

from marketplace.services.billing_events import stripe_event_process as _process
from marketplace.services.billing_events import stripe_events_sweep as _events_sweep
from marketplace.services.erasure import subscriptions_cancel_requested as _cancel_requested
from marketplace.services.subscriptions import subscriptions_due_sweep as _due_sweep


def stripe_event_process(event_id: str) -> str | None:
    return _process(event_id=event_id)


def stripe_events_sweep() -> int:
    return _events_sweep()


def subscriptions_due_sweep() -> int:
    return _due_sweep()


def subscriptions_cancel_for_erased(user_id: str) -> int:
    return _cancel_requested(user_id=user_id)


def subscriptions_cancel_sweep() -> int:
    return _cancel_requested()


def payouts_run() -> dict:
    from marketplace.services.payouts import payouts_run as _payouts_run

    return _payouts_run()


def payout_reverse_for_order(order_id: str) -> int:
    from marketplace.services.payout_reversals import payout_reverse_for_order as _reverse

    return _reverse(order_id=order_id)
