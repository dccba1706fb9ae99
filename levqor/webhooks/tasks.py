"""django-q2 entry points of the webhook engine (the delivery itself is in levqor.webhooks.delivery),
and the one hand-over of deliveries to them."""

import logging

from django.db import transaction

from levqor.tasks_queue import task_push

logger = logging.getLogger("levqor.webhooks")
DELIVER_TASK = "levqor.webhooks.tasks.webhook_deliver"


def webhook_deliveries_enqueue(ids) -> None:
    """One delivery task per id; a broker failure is logged, never raised: the delivery row says it is
    due, and the sweep hands it over again."""
    try:
        for pk in ids:
            task_push(DELIVER_TASK, str(pk))
    except Exception:
        logger.warning("could not hand webhook deliveries to the workers; the sweep will", exc_info=True)


def webhook_deliveries_hand_over(ids) -> None:
    """After the caller's commit, one delivery task per id (nothing when the transaction rolls back)."""
    ids = list(ids)
    if ids:
        transaction.on_commit(lambda: webhook_deliveries_enqueue(ids))


def webhook_deliver(delivery_id: str) -> str | None:
    """One attempt at a due delivery (the next one is scheduled by the attempt itself)."""
    from levqor.webhooks.delivery import webhook_delivery_attempt

    return webhook_delivery_attempt(delivery_id=delivery_id)


def webhook_deliveries_sweep() -> int:
    """The recurring safety net: pending deliveries whose task was lost are handed over again."""
    from levqor.webhooks.delivery import webhook_deliveries_sweep as sweep

    return sweep()
