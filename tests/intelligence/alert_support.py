"""Helpers for the alert router's tests: routes replaced for a test, alerts raised as a request
raises them (commit hooks run), what the fake server received on one path."""

from intelligence.models import Alert, AlertRoute
from intelligence.services.alerts import alert_raise

TELEGRAM_TOKEN = "123456789:AAE-secret-bot-token_xyz"
SLACK_PATH = "/services/T0000/B0000/slack-secret-path"
TELEGRAM_OK = {"ok": True, "result": {"message_id": 7}}


def routes(*specs):
    """Replace every route (the shipped defaults included) with these (severities, channel[, sources])."""
    AlertRoute.objects.all().delete()
    for number, (severities, channel, *sources) in enumerate(specs):
        AlertRoute.objects.create(name=f"route {number}", severities=list(severities), channel=channel,
                                  sources=list(sources[0]) if sources else [])


def answers(fake_server, count=10, status=200):
    """The next `count` answers: what Telegram says on success to its path, an empty 200 elsewhere."""
    fake_server.responses = [(status, lambda request: TELEGRAM_OK if "/sendMessage" in request["path"] else {})] * count


def raised(capture, **fields) -> Alert:
    """alert_raise as a caller's request runs it, its commit hooks run (the hand-over to the workers)."""
    with capture(execute=True):
        return alert_raise(**{"source": "slo", "severity": "critical", "title": "p99 over 200 ms", **fields})


def received(fake_server, fragment):
    return [request for request in fake_server.requests if fragment in request["path"]]

