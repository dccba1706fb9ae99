"""Alerts in the back-office: acknowledge and resolve from the admin, deliveries shown on the alert,
routes edited with each channel's configured state (and no secret) on the page; and
`manage.py alert_test`, which raises a test alert through the router."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from intelligence.models import Alert, AlertDelivery, AlertRoute
from intelligence.services.alerts import alert_raise
from levqor.webhooks.signing import webhook_secret_generate
from tests.intelligence.alert_support import SLACK_PATH, TELEGRAM_TOKEN, raised, routes
from tests.jobs.support import tasks_drain

pytestmark = pytest.mark.django_db

ALERTS = "/admin/intelligence/alert/"
ROUTES = "/admin/intelligence/alertroute/"


def test_acknowledge_then_resolve_from_the_admin_records_who_and_when(operator):
    first = alert_raise(source="slo", severity="critical", title="p99 over 200 ms")
    second = alert_raise(source="anomaly", severity="warning", title="run time of demo.flow")
    response = operator.post(ALERTS, {"action": "acknowledge", "_selected_action": [first.pk, second.pk]}, follow=True)
    assert response.status_code == 200
    assert "Acknowledged 2 alert(s)." in response.content.decode()
    first.refresh_from_db()
    assert (first.status, first.acknowledged_by) == ("acknowledged", operator.user)
    assert timezone.now() - first.acknowledged_at < timezone.timedelta(seconds=5)

    # Acknowledging again changes nothing (who acknowledged first stays).
    response = operator.post(ALERTS, {"action": "acknowledge", "_selected_action": [first.pk]}, follow=True)
    assert "Acknowledged 0 alert(s). 1 were not open." in response.content.decode()

    response = operator.post(ALERTS, {"action": "resolve", "_selected_action": [first.pk]}, follow=True)
    assert "Resolved 1 alert(s)." in response.content.decode()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.resolved_by, first.acknowledged_by) == ("resolved", operator.user, operator.user)
    assert first.resolved_at is not None
    assert second.status == "acknowledged" and second.resolved_at is None


def test_the_alert_list_filters_and_searches_and_the_alert_shows_its_deliveries(
        operator, settings, fake_server, django_capture_on_commit_callbacks):
    settings.ALERT_SLACK_WEBHOOK_URL = fake_server.url + SLACK_PATH
    fake_server.responses = [(500, {})]
    routes((["critical"], "slack"), (["critical"], "telegram"))
    critical = raised(django_capture_on_commit_callbacks, title="Intake p99 over 200 ms")
    raised(django_capture_on_commit_callbacks, severity="info", source="stabilize", title="Stabilize mode on")
    tasks_drain()

    listed = operator.get(ALERTS, {"severity": "critical"}).content.decode()
    assert "Intake p99 over 200 ms" in listed and "Stabilize mode on" not in listed
    assert "slack: pending, telegram: not configured" in listed
    listed = operator.get(ALERTS, {"source": "stabilize", "status": "open"}).content.decode()
    assert "Stabilize mode on" in listed and "Intake p99" not in listed
    listed = operator.get(ALERTS, {"q": "intake"}).content.decode()
    assert "Intake p99 over 200 ms" in listed and "Stabilize mode on" not in listed

    page = operator.get(f"{ALERTS}{critical.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Slack answered 500" in html
    assert "Not configured: set ALERT_TELEGRAM_BOT_TOKEN and ALERT_TELEGRAM_CHAT_ID." in html
    assert SLACK_PATH not in html
    # Read-only: the audit fields are shown, not editable, and alerts are neither added nor deleted here.
    assert 'name="title"' not in html and 'name="status"' not in html
    assert operator.get(f"{ALERTS}add/").status_code == 403
    assert operator.get(f"{ALERTS}{critical.pk}/delete/").status_code == 403


def test_people_who_are_not_staff_get_no_alert_admin(user):
    client = Client()
    client.force_login(user)
    response = client.get(ALERTS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post(ALERTS, {"action": "resolve", "_selected_action": [1]}).status_code == 302


def test_the_routes_page_shows_each_channel_configured_or_not_and_no_secret(operator, settings):
    settings.OPS_EMAILS = ["ops@levqor.test"]
    settings.ALERT_TELEGRAM_BOT_TOKEN = TELEGRAM_TOKEN
    settings.ALERT_TELEGRAM_CHAT_ID = "-100777"
    settings.ALERT_WEBHOOK_URL = "https://receiver.example/hooks/secret-path-abc"
    settings.ALERT_WEBHOOK_SECRET = secret = webhook_secret_generate()
    html = operator.get(ROUTES).content.decode()
    start = html.index('id="alert-channels"')
    rows = html[start:html.index("</table>", start)].split("<tr>")[2:]  # the channel rows, after the header
    assert [("not configured" not in row) for row in rows] == [True, False, True, True]  # email, slack, telegram, webhook
    assert "ops@levqor.test" in rows[0] and "Not configured: set ALERT_SLACK_WEBHOOK_URL." in rows[1]
    assert "POST to receiver.example, signed" in rows[3]
    # The shipped routes, each with its channel's state.
    for name in ("Critical and warning to email", "Critical and warning to Slack", "Critical to Telegram",
                 "Critical to the signed webhook"):
        assert name in html
    for leaked in (TELEGRAM_TOKEN, "secret-path-abc", secret, secret.removeprefix("whsec_")):
        assert leaked not in html


def test_a_route_is_added_in_the_admin_with_severities_and_sources(operator):
    response = operator.post(f"{ROUTES}add/", {"name": "SLO pages Telegram", "channel": "telegram",
                                               "severities": ["warning", "critical"], "sources": " slo, anomaly ,,",
                                               "enabled": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    route = AlertRoute.objects.get(name="SLO pages Telegram")
    assert (route.channel, route.severities, route.sources, route.enabled) == (
        "telegram", ["warning", "critical"], ["anomaly", "slo"], True)
    page = operator.get(f"{ROUTES}{route.pk}/change/").content.decode()
    assert 'value="anomaly, slo"' in page
    # No severity: refused.
    response = operator.post(f"{ROUTES}add/", {"name": "nothing", "channel": "email", "sources": ""})
    assert response.status_code == 200 and not AlertRoute.objects.filter(name="nothing").exists()


# --- manage.py alert_test ----------------------------------------------------------------------

@pytest.fixture
def alert_test(django_capture_on_commit_callbacks):
    """Run the command as from a shell, where each write commits (its commit hooks run)."""
    def run(*args) -> str:
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("alert_test", *args, stdout=out)
        return out.getvalue()
    return run


def test_alert_test_raises_a_test_alert_and_prints_where_it_went(alert_test, settings, fake_server):
    settings.ALERT_SLACK_WEBHOOK_URL = fake_server.url + SLACK_PATH
    out = alert_test("--severity", "critical")
    alert = Alert.objects.get(source="test")
    assert (alert.severity, alert.title) == ("critical", "Test alert (critical) from manage.py alert_test")
    assert f'Alert #{alert.pk} [critical] "Test alert (critical) from manage.py alert_test" stored' in out
    assert "Routed to 4 channel(s):" in out
    assert "  slack     pending (queued for the workers)" in out
    assert "  telegram  Not configured: set ALERT_TELEGRAM_BOT_TOKEN and ALERT_TELEGRAM_CHAT_ID." in out
    assert "  email     Not configured: set OPS_EMAILS" in out
    assert SLACK_PATH not in out
    # Sent by the workers, as any alert is.
    assert fake_server.requests == []
    tasks_drain()
    assert "Test alert (critical)" in json.loads(fake_server.requests[0]["body"])["text"]
    assert alert.deliveries.get(channel="slack").status == "sent"

    # Each run is a new alert (its own dedup key), routed again.
    alert_test("--severity", "critical", "--title", "Pager check")
    assert Alert.objects.filter(source="test").count() == 2


def test_alert_test_send_now_checks_the_channels_from_the_command(alert_test, settings, fake_server):
    settings.ALERT_SLACK_WEBHOOK_URL = fake_server.url + SLACK_PATH
    settings.OPS_EMAILS = ["ops@levqor.test"]
    routes((["warning"], "slack"), (["warning"], "email"))
    out = alert_test("--severity", "warning", "--title", "Disk 91 %", "--send-now")
    assert "  email     sent" in out and "  slack     sent" in out
    assert "Other channels not configured:" in out and "  telegram  Not configured" in out
    assert [json.loads(r["body"])["text"].split("\n")[0] for r in fake_server.requests] == ["*[WARNING] Disk 91 %*"]
    # The workers' copies of the tasks find them sent and send nothing again.
    assert [state for _, _, state in tasks_drain()] == [None, None]
    assert len(fake_server.requests) == 1

    fake_server.responses = [(404, {})]
    with pytest.raises(CommandError, match="1 delivery"):
        alert_test("--severity", "warning", "--send-now")
    assert AlertDelivery.objects.filter(channel="slack", status="pending", attempts=1,
                                        last_error="Slack answered 404: {}").exists()


def test_alert_test_says_when_no_route_takes_it(alert_test):
    out = alert_test("--severity", "info")
    assert "Routed nowhere: no enabled route sends info alerts from source 'test'." in out
    assert "/admin/intelligence/alertroute/" in out
    assert Alert.objects.filter(source="test", severity="info").exists()
