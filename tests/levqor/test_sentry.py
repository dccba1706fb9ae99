"""Sentry, pointed at a fake Sentry the test starts: web and task errors arrive, tagged with the
correlation id, without keys, cookies or request bodies; /status says whether it is configured."""

import gzip
import json
import time

import httpx
import pytest
import sentry_sdk
from django.test import Client
from django_q.tasks import async_task

from levqor.sentry import sentry_init
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db
PASSWORD = "tr0ub4dor-and-3"  # noqa: S105


@pytest.fixture
def sentry_server(fake_server, settings):
    port = fake_server.url.rsplit(":", 1)[1]
    settings.SENTRY_DSN = f"http://public@127.0.0.1:{port}/1"
    settings.SENTRY_ENVIRONMENT = "ci-test"
    assert sentry_init()
    yield fake_server
    sentry_sdk.flush(timeout=5)
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def received_events(server, *, count: int, deadline_seconds: float = 10) -> list[tuple[dict, bytes]]:
    """(event, the raw envelope it came in) for every event the fake Sentry got, once `count` arrived."""
    sentry_sdk.flush(timeout=5)
    deadline = time.monotonic() + deadline_seconds
    while True:
        events = []
        for request in list(server.requests):
            body = request["body"]
            encoding = request["headers"].get("Content-Encoding")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "br":  # the SDK's choice once brotli is installed (weasyprint's fonttools[woff])
                import brotli

                body = brotli.decompress(body)
            lines = body.split(b"\n")
            for header, payload in zip(lines[1:], lines[2:], strict=False):
                if header.startswith(b"{") and json.loads(header).get("type") == "event":
                    events.append((json.loads(payload), body))
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.02)


@pytest.mark.urls("tests.levqor.crash_urls")
def test_view_errors_reach_sentry_tagged_and_without_secrets(sentry_server, settings, live_server):
    # Through a real WSGI server, as under gunicorn: the SDK reads headers and query from the WSGI environ.
    _, raw = api_key_for()
    cookie = f"sessionid={PASSWORD}; csrftoken={PASSWORD}"
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        plain = client.get(f"/test-crash/plain?api_key={raw}&q=1", headers={"X-Api-Key": raw, "Cookie": cookie})
        api = client.post(f"/api/v1/test-crash?token={raw}", content=json.dumps({"password": PASSWORD, "email": "a@b.co"}),
                          headers={"Content-Type": "application/json", "Authorization": f"Bearer {raw}",
                                   "Cookie": cookie})
    assert plain.status_code == api.status_code == 500
    assert api.json()["error"] == "internal_error" and api.json()["correlation_id"] == api.headers["X-Request-ID"]

    events = received_events(sentry_server, count=2)
    by_cid = {event["tags"]["correlation_id"]: (event, envelope) for event, envelope in events}
    assert set(by_cid) == {plain.headers["X-Request-ID"], api.headers["X-Request-ID"]}
    for event, envelope in by_cid.values():
        assert event["environment"] == "ci-test"
        assert event["release"] == f"levqor@{settings.LEVQOR_VERSION}+{settings.LEVQOR_BUILD}"
        assert event["exception"]["values"][-1]["type"] == "RuntimeError"
        assert event["request"]["url"].endswith(("/test-crash/plain", "/api/v1/test-crash"))
        assert "cookies" not in event["request"] and not event["request"].get("data")
        text = envelope.decode()
        for secret in (raw, raw[len("lvk_live_"):], PASSWORD):
            assert secret not in text
    plain_event = by_cid[plain.headers["X-Request-ID"]][0]
    assert "a bug in a plain Django view" in plain_event["exception"]["values"][-1]["value"]
    assert plain_event["request"]["query_string"] == "api_key=[REDACTED]&q=1"


def test_task_errors_reach_sentry_with_the_task_and_its_correlation_id(sentry_server):
    # A task given a broken argument, run by django-q2's own worker code in this process.
    with pytest.raises(Exception, match="not a valid UUID"):
        async_task("jobs.tasks.job_callback_deliver", "not-a-uuid", sync=True)
    events = received_events(sentry_server, count=1)
    task_events = [event for event, _ in events if event.get("tags", {}).get("task")]
    assert len(task_events) == 1, events
    event = task_events[0]
    assert event["tags"]["task"] == "jobs.tasks.job_callback_deliver"
    assert event["tags"]["correlation_id"]  # the task run's own id
    assert event["exception"]["values"][-1]["type"] == "ValidationError"


def test_status_reports_sentry_as_information_never_as_a_failure(settings):
    body = Client().get("/status").json()
    assert body["info"]["sentry"] == "not configured"
    assert "sentry" not in body["checks"]


def test_status_names_the_configured_environment(sentry_server):
    assert Client().get("/status").json()["info"]["sentry"].startswith("configured (environment ci-test")
