"""The data migrations of the move onto the webhook engine: each account's old User.webhook_secret
becomes its WebhookSigningSecret (encrypted at rest; GET /api/v1/webhooks/secret answers the same
secret), and stored CallbackDelivery attempts become WebhookDelivery/WebhookAttempt rows."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from accounts.models import User as CurrentUser
from levqor.webhooks.models import WebhookDelivery, WebhookSigningSecret
from levqor.webhooks.signing import webhook_secret_generate
from tests.factories import api_key_pair

BEFORE = [("accounts", "0006_webhooks_partners_scopes"), ("jobs", "0002_drop_redundant_fk_indexes")]
AFTER = [("accounts", "0007_webhook_secret_to_engine"), ("jobs", "0003_callbacks_to_webhooks")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_secrets_and_callback_attempts_move_into_the_engine(client_for):
    try:
        old = _migrate(BEFORE)
        User, Job = old.get_model("accounts", "User"), old.get_model("jobs", "Job")
        CallbackDelivery = old.get_model("jobs", "CallbackDelivery")
        secret = webhook_secret_generate()
        user = User.objects.create(email="old@example.com", webhook_secret=secret, password="!")
        now = timezone.now()
        job = Job.objects.create(owner=user, workflow="demo.echo", status="succeeded", attempts=1,
                                 callback_url="https://hooks.example.com/x", callback_status="delivered",
                                 callback_attempts=2, finished_at=now)
        msg = f"msg_{uuid.UUID(str(job.pk)).hex}_1"
        CallbackDelivery.objects.create(job=job, attempt=1, url=job.callback_url, webhook_id=msg, status_code=500,
                                        succeeded=False, error="The receiver answered 500.", duration_ms=12, at=now)
        CallbackDelivery.objects.create(job=job, attempt=2, url=job.callback_url, webhook_id=msg, status_code=200,
                                        succeeded=True, duration_ms=9, at=now)
        _migrate(AFTER)

        stored = WebhookSigningSecret.objects.get(owner_id=user.pk)
        assert stored.secret == secret
        with connection.cursor() as cursor:  # encrypted at rest, never the plain secret
            cursor.execute("SELECT secret FROM webhooks_webhooksigningsecret WHERE owner_id = %s",
                           [user.pk.hex if connection.vendor == "sqlite" else user.pk])
            assert secret not in cursor.fetchone()[0]
        delivery = WebhookDelivery.objects.get(source=f"jobs.job:{job.pk}")
        assert (delivery.msg_id, delivery.status, delivery.attempts, delivery.endpoint_id) == (msg, "delivered", 2, None)
        assert [(a.number, a.status_code, a.succeeded, a.error) for a in delivery.attempt_rows.order_by("number")] == [
            (1, 500, False, "The receiver answered 500."), (2, 200, True, "")]

        _, raw = api_key_pair(owner=CurrentUser.objects.get(pk=user.pk), scopes=["jobs:read"])
        assert client_for(raw).get("/api/v1/webhooks/secret").json()["secret"] == secret
    finally:
        _migrate(_leaves())


@pytest.mark.django_db(transaction=True)
def test_moved_callbacks_whose_body_was_not_kept_are_not_replayable():
    """0003 could not keep the old bodies; jobs 0004 marks what it moved so that a replay refuses them
    (rather than send a placeholder under the old message id). Deliveries of the engine stay replayable."""
    from levqor.errors import AppError
    from levqor.webhooks.replay import webhook_deliveries_replay_failed, webhook_delivery_replay

    try:
        old = _migrate(BEFORE)
        User, Job = old.get_model("accounts", "User"), old.get_model("jobs", "Job")
        CallbackDelivery = old.get_model("jobs", "CallbackDelivery")
        user = User.objects.create(email="moved@example.com", password="!")
        now = timezone.now()
        job = Job.objects.create(owner=user, workflow="demo.echo", status="succeeded", attempts=1,
                                 callback_url="https://hooks.example.com/x", callback_status="failed",
                                 callback_attempts=1, finished_at=now)
        CallbackDelivery.objects.create(job=job, attempt=1, url=job.callback_url, webhook_id="msg_old", status_code=500,
                                        succeeded=False, error="The receiver answered 500.", duration_ms=12, at=now)
        _migrate(_leaves())

        moved = WebhookDelivery.objects.get(source=f"jobs.job:{job.pk}")
        assert (moved.status, moved.replayable) == ("failed", False)
        owner = CurrentUser.objects.get(pk=user.pk)
        fresh = WebhookDelivery.objects.create(owner=owner, url="https://hooks.example.com/x", event_type="job.failed",
                                               msg_id="msg_new", body="{}", status="failed")
        with pytest.raises(AppError) as refused:
            webhook_delivery_replay(delivery=moved)
        assert refused.value.code == "delivery_not_replayable"
        assert webhook_deliveries_replay_failed(owner=owner) == 1
        assert WebhookDelivery.objects.get(pk=fresh.pk).status == "pending"
        assert WebhookDelivery.objects.get(pk=moved.pk).status == "failed"
    finally:
        _migrate(_leaves())


def _leaves():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.mark.django_db(transaction=True)
def test_callback_rows_stored_twice_by_the_old_race_are_folded_before_the_unique_index():
    """webhooks 0002 adds one row per (owner, msg_id) for callback URLs; rows the old race stored
    twice are folded into the earliest, their attempts kept, so the migration cannot fail on them."""
    try:
        old = _migrate([("webhooks", "0001_initial"), *AFTER])
        User = old.get_model("accounts", "User")
        Delivery, Attempt = old.get_model("webhooks", "WebhookDelivery"), old.get_model("webhooks", "WebhookAttempt")
        user = User.objects.create(email="twice@example.com", password="!")
        now = timezone.now()
        first, second = (Delivery.objects.create(owner=user, msg_id="msg_twice", url="https://hooks.example.com/x",
                                                 event_type="job.succeeded", body="{}", status="pending",
                                                 attempts=1, created_at=now + timedelta(seconds=n))
                         for n in (0, 1))
        Attempt.objects.create(delivery=first, number=1, url=first.url, status_code=500)
        Attempt.objects.create(delivery=second, number=1, url=second.url, status_code=503)
        _migrate([("webhooks", "0002_delivery_replayable_and_once_per_owner_url"), *AFTER])

        [kept] = WebhookDelivery.objects.filter(msg_id="msg_twice")
        assert kept.pk == first.pk and kept.attempts == 2
        assert [(a.number, a.status_code) for a in kept.attempt_rows.order_by("number")] == [(1, 500), (2, 503)]
    finally:
        _migrate(_leaves())
