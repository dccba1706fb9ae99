"""An alert when the webhook engine disables an endpoint after its consecutive failures."""

import logging

from levqor.webhooks.models import WebhookEndpoint
from levqor.webhooks.signals import webhook_endpoint_disabled

logger = logging.getLogger("levqor.intelligence")


def _endpoint_disabled(sender, endpoint, reason, **kwargs) -> None:
    from intelligence.services.alerts import alert_raise

    try:
        alert_raise(source="webhooks", severity="warning", title=f"Webhook endpoint disabled: {endpoint.url}"[:200],
                    body=f"{reason}\nEndpoint {endpoint.pk} ({endpoint.audience}) of account {endpoint.owner_id}.",
                    dedup_key=f"webhooks:endpoint_disabled:{endpoint.pk}")
    except Exception:  # sent after the engine's commit: an alert that fails must not fail the worker
        logger.exception("could not raise the alert of a disabled webhook endpoint")


def webhook_alerts_connect() -> None:
    webhook_endpoint_disabled.connect(_endpoint_disabled, sender=WebhookEndpoint,
                                      dispatch_uid="intelligence-webhook-endpoint-disabled")
