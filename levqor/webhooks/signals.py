"""What the engine tells the apps above it (they connect in their AppConfig.ready()).

- webhook_delivery_settled(sender=WebhookDelivery, delivery=...): a delivery reached delivered or
  failed (after its last scheduled attempt, or refused). jobs keeps Job.callback_status from it;
  delivery.source says whose it is.
- webhook_endpoint_disabled(sender=WebhookEndpoint, endpoint=..., reason=...): an endpoint was
  disabled after the policy's number of failed deliveries in a row. intelligence raises an alert; partners
  applies its auto-suspend rule to a partner's endpoint.
- webhook_attempt_recorded(sender=WebhookDelivery, delivery=..., attempt=WebhookAttempt): one attempt
  was stored. Sent INSIDE the transaction that stores it, so a listener's own writes (jobs: the
  job's callback_status and its timeline event) commit or roll back with the attempt.
The first two are sent after the commit of the change they report."""

from django.dispatch import Signal

webhook_delivery_settled = Signal()
webhook_endpoint_disabled = Signal()
webhook_attempt_recorded = Signal()
