"""django-q2 entry points of the webhook engine (the delivery itself is in levqor.webhooks.delivery)."""

import logging

from django_q.tasks import async_task

logger = logging.getLogger("levqor.webhooks")


def webhook_deliveries_enqueue(ids) -> None:
    """One delivery task per id; a broker failure is logged, never raised: the delivery row says it is
    due, and the sweep hands it over again."""
    try:
        for pk in ids:
            async_task("levqor.webhooks.tasks.webhook_deliver", str(pk))
    except Exception:
        logger.warning("could not hand webhook deliveries to the workers; the sweep will", exc_info=True)


def webhook_deliver(delivery_id: str) -> None:
    """One attempt at a due delivery (built by the webhook-engine part of issue 10)."""
    raise NotImplementedError("built by the webhook-engine part")
