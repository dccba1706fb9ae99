"""The alert router: a new alert goes, after its commit and through the django-q2 workers, to the
channels its routes name; each send is a delivery with its attempts, retried with backoff. Every
channel is exercised through its real client against a local fake server (fake_server) or, for
email, Django's test outbox and Resend's SDK; we assert on what they received."""

import json

import pytest
from django.core import mail
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule

from intelligence.models import Alert, AlertDelivery, AlertRoute
from intelligence.services.alert_routing import (
    DELIVER_TASK,
    alert_channels_for,
    alert_deliveries_sweep,
    alert_delivery_send,
)
from intelligence.services.alerts import alert_raise
from levqor.webhooks.signing import webhook_secret_generate
from tests.intelligence.alert_support import SLACK_PATH, TELEGRAM_TOKEN, answers, raised, received, routes
from tests.jobs.support import schedules_fire, tasks_drain
from tests.webhook_receiver import received_verifies as _verifies

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels(settings, fake_server):
    """All four channels configured, the HTTP ones pointing at the fake server."""
    settings.OPS_EMAILS = ["ops@levqor.test", "oncall@levqor.test"]
    settings.ALERT_SLACK_WEBHOOK_URL = fake_server.url + SLACK_PATH
    settings.ALERT_TELEGRAM_API_URL = fake_server.url + "/telegram"
    settings.ALERT_TELEGRAM_BOT_TOKEN = TELEGRAM_TOKEN
    settings.ALERT_TELEGRAM_CHAT_ID = "-1001234567890"
    settings.ALERT_WEBHOOK_URL = fake_server.url + "/hooks/alerts"
    settings.ALERT_WEBHOOK_SECRET = webhook_secret_generate()
    settings.ALERT_RETRY_BASE_SECONDS = 10
    answers(fake_server)
    return settings



# --- routes ---------------------------------------------------------------------------------------

def test_the_shipped_routes_send_critical_everywhere_warning_to_email_and_slack_and_info_nowhere():
    assert alert_channels_for(severity="critical", source="slo") == ["email", "slack", "telegram", "webhook"]
    assert alert_channels_for(severity="warning", source="anomaly") == ["email", "slack"]
    assert alert_channels_for(severity="info", source="stabilize") == []


def test_routing_by_severity_and_source(channels, fake_server, django_capture_on_commit_callbacks):
    routes((["critical"], "slack"), (["warning", "critical"], "webhook", ["slo"]), (["critical"], "slack", ["slo"]))
    AlertRoute.objects.create(name="off", severities=["warning"], channel="telegram", enabled=False)

    slo_warning = raised(django_capture_on_commit_callbacks, severity="warning", source="slo", title="a")
    anomaly_warning = raised(django_capture_on_commit_callbacks, severity="warning", source="anomaly", title="b")
    anomaly_critical = raised(django_capture_on_commit_callbacks, severity="critical", source="anomaly", title="c")
    slo_critical = raised(django_capture_on_commit_callbacks, severity="critical", source="slo", title="d")

    def channels_of(alert):
        return sorted(alert.deliveries.values_list("channel", flat=True))

    assert channels_of(slo_warning) == ["webhook"]
    assert channels_of(anomaly_warning) == []  # the only route for other sources is disabled
    assert channels_of(anomaly_critical) == ["slack"]
    assert channels_of(slo_critical) == ["slack", "webhook"]  # two routes to Slack: sent there once
    tasks_drain()
    assert [json.loads(r["body"])["data"]["title"] for r in received(fake_server, "/hooks/alerts")] == ["a", "d"]
    assert len(received(fake_server, SLACK_PATH)) == 2
    assert received(fake_server, "/telegram") == [] and mail.outbox == []


# --- every channel, as its receiver sees it ------------------------------------------------------

def test_a_new_critical_alert_reaches_every_channel_from_the_workers_not_the_request(
        channels, fake_server, django_capture_on_commit_callbacks):
    alert = raised(django_capture_on_commit_callbacks, title="p99 over 200 ms <api> & intake",
                   body="p99 412 ms for 3 checks in a row.")
    # Stored and handed over, nothing sent yet: the request that raised it never waits on a channel.
    assert fake_server.requests == [] and mail.outbox == []
    deliveries = {d.channel: d for d in alert.deliveries.all()}
    assert sorted(deliveries) == ["email", "slack", "telegram", "webhook"]
    assert {d.status for d in deliveries.values()} == {"pending"}

    ran = tasks_drain()
    assert sorted(args for func, args, _ in ran) == sorted((d.pk,) for d in deliveries.values())
    assert {func for func, _, _ in ran} == {DELIVER_TASK}

    # Slack: a JSON "text" with Slack's markup escaped and a link to the alert in admin.
    [slack] = received(fake_server, SLACK_PATH)
    assert slack["method"] == "POST" and slack["headers"]["content-type"] == "application/json"
    text = json.loads(slack["body"])["text"]
    assert text.startswith("*[CRITICAL] p99 over 200 ms &lt;api&gt; &amp; intake*")
    assert "p99 412 ms for 3 checks in a row." in text
    assert f"/admin/intelligence/alert/{alert.pk}/change/|Open in admin>" in text

    # Telegram: the Bot API's sendMessage of our bot, to our chat.
    [telegram] = received(fake_server, "/telegram")
    assert telegram["path"] == f"/telegram/bot{TELEGRAM_TOKEN}/sendMessage"
    sent = json.loads(telegram["body"])
    assert sent["chat_id"] == "-1001234567890"
    assert sent["text"].startswith("[CRITICAL] p99 over 200 ms <api> & intake\n\np99 412 ms")

    # The generic webhook: signed the Standard Webhooks way, checked with the package itself.
    [hook] = received(fake_server, "/hooks/alerts")
    assert _verifies(hook, channels.ALERT_WEBHOOK_SECRET)
    assert not _verifies(hook, webhook_secret_generate())
    assert not _verifies({**hook, "body": hook["body"].replace(b"412", b"413")}, channels.ALERT_WEBHOOK_SECRET)
    assert hook["headers"]["webhook-id"] == f"msg_alert_{deliveries['webhook'].pk}"
    payload = json.loads(hook["body"])
    assert payload["type"] == "alert.raised"
    assert {key: payload["data"][key] for key in ("id", "source", "severity", "title", "status", "count")} == {
        "id": alert.pk, "source": "slo", "severity": "critical", "title": "p99 over 200 ms <api> & intake",
        "status": "open", "count": 1}

    # Email: one message to every address in OPS_EMAILS.
    [email] = mail.outbox
    assert email.to == ["ops@levqor.test", "oncall@levqor.test"]
    assert email.subject == "[Levqor] [CRITICAL] p99 over 200 ms <api> & intake"
    assert "p99 412 ms for 3 checks in a row." in email.body and "Source: slo." in email.body

    for delivery in alert.deliveries.all():
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, ""), delivery.channel
        assert delivery.sent_at is not None and delivery.next_attempt_at is None
    # A copy of a task (a sweep's, a re-delivery) sends nothing twice.
    assert alert_delivery_send(delivery_id=deliveries["slack"].pk) is None
    assert len(fake_server.requests) == 3 and len(mail.outbox) == 1


def test_email_goes_through_resend_when_it_is_configured(settings, fake_server, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "accounts.email.ResendEmailBackend"
    settings.RESEND_API_KEY = "re_test_alerts"
    settings.RESEND_API_URL = fake_server.url
    settings.OPS_EMAILS = ["ops@levqor.test"]
    fake_server.responses = [(200, {"id": "0c2b6a0e-5d7e-4d4e-9f3b-1f0e7a1b2c3d"})]
    routes((["warning"], "email"))
    alert = raised(django_capture_on_commit_callbacks, severity="warning", title="Queue wait p95 high")
    tasks_drain()
    [request] = fake_server.requests
    assert (request["method"], request["path"]) == ("POST", "/emails")
    body = json.loads(request["body"])
    assert body["to"] == ["ops@levqor.test"]
    assert body["subject"] == "[Levqor] [WARNING] Queue wait p95 high"
    assert alert.deliveries.get().status == "sent"


# --- de-duplication ----------------------------------------------------------------------------------

def test_the_same_dedup_key_within_the_window_counts_and_sends_nothing_new(
        channels, fake_server, clock, django_capture_on_commit_callbacks):
    channels.ALERT_DEDUP_SECONDS = 900
    routes((["critical"], "slack"), (["critical"], "email"))
    first = raised(django_capture_on_commit_callbacks, dedup_key="slo:p99")
    tasks_drain()
    assert len(received(fake_server, SLACK_PATH)) == 1 and len(mail.outbox) == 1

    clock.advance(14 * 60)
    again = raised(django_capture_on_commit_callbacks, dedup_key="slo:p99")
    assert (again.pk, again.count) == (first.pk, 2)
    assert AlertDelivery.objects.count() == 2  # no new delivery
    assert tasks_drain() == []
    assert len(received(fake_server, SLACK_PATH)) == 1 and len(mail.outbox) == 1

    clock.advance(901)  # 15 minutes after its last sighting it is news again
    later = raised(django_capture_on_commit_callbacks, dedup_key="slo:p99")
    assert later.pk != first.pk
    tasks_drain()
    assert len(received(fake_server, SLACK_PATH)) == 2 and len(mail.outbox) == 2


# --- channels that are not configured -----------------------------------------------------------

def test_channels_that_are_not_configured_get_nothing_and_say_so(fake_server, django_capture_on_commit_callbacks):
    alert = raised(django_capture_on_commit_callbacks)  # the shipped routes: critical to every channel
    assert Alert.objects.filter(pk=alert.pk, status="open").exists()  # the alert is stored all the same
    errors = dict(alert.deliveries.values_list("channel", "last_error"))
    assert set(alert.deliveries.values_list("status", flat=True)) == {"not_configured"}
    assert errors == {
        "email": "Not configured: set OPS_EMAILS (comma-separated addresses).",
        "slack": "Not configured: set ALERT_SLACK_WEBHOOK_URL.",
        "telegram": "Not configured: set ALERT_TELEGRAM_BOT_TOKEN and ALERT_TELEGRAM_CHAT_ID.",
        "webhook": "Not configured: set ALERT_WEBHOOK_URL and ALERT_WEBHOOK_SECRET.",
    }
    assert get_broker().queue_size() == 0  # nothing handed to the workers
    assert tasks_drain() == [] and fake_server.requests == [] and mail.outbox == []
    assert all(d.attempts == 0 for d in alert.deliveries.all())


def test_half_set_or_broken_settings_are_not_configured_either(settings, fake_server,
                                                               django_capture_on_commit_callbacks):
    settings.ALERT_TELEGRAM_BOT_TOKEN = TELEGRAM_TOKEN  # no chat id
    settings.ALERT_WEBHOOK_URL = fake_server.url + "/hooks/alerts"
    settings.ALERT_WEBHOOK_SECRET = "whsec_not base64!"
    routes((["critical"], "telegram"), (["critical"], "webhook"))
    alert = raised(django_capture_on_commit_callbacks)
    errors = dict(alert.deliveries.values_list("channel", "last_error"))
    assert errors == {"telegram": "Not configured: set ALERT_TELEGRAM_CHAT_ID.",
                      "webhook": "Not configured: ALERT_WEBHOOK_SECRET is not a whsec_... secret (base64)."}
    tasks_drain()
    assert fake_server.requests == []


def test_a_channel_whose_settings_went_away_before_the_send_is_marked_not_configured(
        channels, fake_server, django_capture_on_commit_callbacks):
    routes((["critical"], "slack"))
    alert = raised(django_capture_on_commit_callbacks)
    channels.ALERT_SLACK_WEBHOOK_URL = ""  # e.g. the workers run with other settings than the web
    assert tasks_drain()[0][2] == "not_configured"
    delivery = alert.deliveries.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "not_configured", 0, "Not configured: set ALERT_SLACK_WEBHOOK_URL.")
    assert fake_server.requests == []


# --- failures: retried with backoff on the workers, then failed ------------------------------------

@pytest.mark.django_db(transaction=True)  # the retry goes through django-q2's scheduler
def test_a_500_is_retried_with_backoff_through_the_scheduler_then_sent(channels, fake_server, clock):
    routes((["critical"], "slack"))
    fake_server.responses = [(500, {"error": "down"}), (200, {})]
    alert = alert_raise(source="slo", severity="critical", title="p99 over 200 ms")  # autocommit: handed over now
    before = timezone.now()
    assert [state for _, _, state in tasks_drain()] == ["pending"]
    delivery = alert.deliveries.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.last_error == 'Slack answered 500: {"error": "down"}'
    wait = (delivery.next_attempt_at - before).total_seconds()
    assert 5 <= wait <= 10.5, wait  # base 10 s, equal jitter
    schedule = Schedule.objects.get(func=DELIVER_TASK)
    assert (schedule.schedule_type, schedule.next_run, schedule.args) == (
        Schedule.ONCE, delivery.next_attempt_at, repr((delivery.pk,)))

    # A copy of the task that runs before the backoff has passed does nothing.
    assert alert_delivery_send(delivery_id=delivery.pk) is None
    assert len(fake_server.requests) == 1

    clock.advance(11)
    schedules_fire()  # (the other recurring schedules run too)
    ran = [(func, args, state) for func, args, state in tasks_drain() if func == DELIVER_TASK]
    assert ran == [(DELIVER_TASK, (delivery.pk,), "sent")]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error, delivery.next_attempt_at) == ("sent", 2, "", None)
    assert len(fake_server.requests) == 2
    assert fake_server.requests[0]["body"] == fake_server.requests[1]["body"]


def test_a_delivery_fails_for_good_after_the_maximum_attempts(channels, fake_server, clock,
                                                              django_capture_on_commit_callbacks):
    channels.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    routes((["critical"], "webhook"))
    fake_server.responses = [(503, {})] * 5
    alert = raised(django_capture_on_commit_callbacks)
    delivery = alert.deliveries.get()
    waits, states = [], []
    for _ in range(3):
        # The clock runs (the fixture only moves it forward): the wait the service chose lies between
        # next_attempt_at minus the time after the send and minus the time before it.
        before = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            states.append(alert_delivery_send(delivery_id=delivery.pk))
        after = timezone.now()
        delivery.refresh_from_db()
        if delivery.next_attempt_at:
            waits.append(((delivery.next_attempt_at - after).total_seconds(),
                          (delivery.next_attempt_at - before).total_seconds()))
            clock.advance(waits[-1][1] + 1)
    assert states == ["pending", "pending", "failed"]
    (low0, high0), (low1, high1) = waits
    assert 5 <= high0 and low0 <= 10 and 10 <= high1 and low1 <= 20  # doubling, with jitter
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert delivery.last_error == "The webhook receiver answered 503: {}"
    assert alert_delivery_send(delivery_id=delivery.pk) is None
    assert len(fake_server.requests) == 3
    # Every attempt carried the same message id: a receiver drops the repeats of one it has.
    assert {r["headers"]["webhook-id"] for r in fake_server.requests} == {f"msg_alert_{delivery.pk}"}


def test_telegram_asking_to_wait_is_obeyed(channels, fake_server, django_capture_on_commit_callbacks):
    routes((["critical"], "telegram"))
    fake_server.responses = [(429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 120",
                                    "parameters": {"retry_after": 120}})]
    alert = raised(django_capture_on_commit_callbacks)
    assert tasks_drain()[0][2] == "pending"
    delivery = alert.deliveries.get()
    assert delivery.last_error == "Telegram answered 429: Too Many Requests: retry after 120"
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() > 115


def test_errors_never_hold_the_token_or_the_webhook_address(channels, fake_server, caplog, closed_port,
                                                            django_capture_on_commit_callbacks):
    routes((["critical"], "telegram"), (["critical"], "slack"))
    fake_server.responses = [(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})]
    channels.ALERT_SLACK_WEBHOOK_URL = f"http://127.0.0.1:{closed_port}{SLACK_PATH}"
    alert = raised(django_capture_on_commit_callbacks)
    with caplog.at_level("WARNING", logger="levqor.intelligence.alerts"):
        tasks_drain()
    errors = dict(alert.deliveries.values_list("channel", "last_error"))
    assert errors["telegram"] == "Telegram answered 401: Unauthorized"
    assert errors["slack"].startswith("ConnectError: ")
    logged = caplog.text
    assert "Unauthorized" in logged and "ConnectError" in logged
    for secret in (TELEGRAM_TOKEN, SLACK_PATH, "slack-secret-path", channels.ALERT_WEBHOOK_SECRET):
        assert secret not in logged and all(secret not in error for error in errors.values())


# --- a lost task --------------------------------------------------------------------------------

def test_a_delivery_whose_task_was_lost_is_swept_to_the_workers_once(channels, fake_server, clock):
    routes((["critical"], "slack"))
    alert = alert_raise(source="slo", severity="critical", title="x")  # commit hooks never run: the task is lost
    assert get_broker().queue_size() == 0
    assert alert_deliveries_sweep() == 0  # not yet: it may still be on its way
    clock.advance(3 * 60)
    assert alert_deliveries_sweep() == 1
    assert alert_deliveries_sweep() == 0  # handed over once, not once per sweep
    assert [state for _, _, state in tasks_drain()] == ["sent"]
    assert alert.deliveries.get().status == "sent"
    assert len(fake_server.requests) == 1


def test_the_sweep_is_a_schedule_after_migrate():
    schedule = Schedule.objects.get(name="intelligence.alert_deliveries_sweep")
    assert (schedule.func, schedule.schedule_type, schedule.minutes) == (
        "intelligence.tasks.alert_deliveries_sweep", Schedule.MINUTES, 2)
