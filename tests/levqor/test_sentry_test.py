"""manage.py sentry_test: one test event through the Sentry SDK to a fake Sentry ingest server the
test starts (fake_server: records every request); the command says whether it was accepted and
exits non-zero when it was not, or when Sentry is not configured (then nothing is sent)."""

import gzip
import json

import pytest
import sentry_sdk
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def sentry_dsn(fake_server, settings):
    port = fake_server.url.rsplit(":", 1)[1]
    settings.SENTRY_DSN = f"http://public@127.0.0.1:{port}/42"
    settings.SENTRY_ENVIRONMENT = "ci-test"
    yield fake_server
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def _events(server) -> list[dict]:
    events = []
    for request in server.requests:
        body = request["body"]
        encoding = request["headers"].get("Content-Encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":  # the SDK's choice when brotli is installed
            import brotli

            body = brotli.decompress(body)
        lines = body.split(b"\n")
        for header, payload in zip(lines[1:], lines[2:], strict=False):
            if header.startswith(b"{") and json.loads(header).get("type") == "event":
                events.append(json.loads(payload))
    return events


def test_the_test_event_arrives_tagged_and_is_reported_accepted(sentry_dsn, capsys):
    call_command("sentry_test")
    out = capsys.readouterr().out
    assert out.startswith("Sentry accepted the test event ") and "environment ci-test" in out

    [event] = _events(sentry_dsn)
    envelope_posts = [r for r in sentry_dsn.requests if r["path"].startswith("/api/42/envelope/")]
    assert envelope_posts and all(r["method"] == "POST" for r in envelope_posts)
    marker = event["tags"]["levqor.sentry_test"]
    assert f"levqor.sentry_test={marker}" in out and event["event_id"] in out
    assert marker in event["message"] and event["level"] == "info"
    assert event["environment"] == "ci-test"


@pytest.mark.parametrize("status", [500, 429])
def test_an_ingest_that_refuses_is_reported_not_accepted(sentry_dsn, status):
    sentry_dsn.responses.extend([(status, {"detail": "no"})] * 5)
    with pytest.raises(CommandError, match=f"Sentry did not accept the test event .*status_{status}"):
        call_command("sentry_test")
    assert len(_events(sentry_dsn)) == 1  # it was sent, and refused


def test_an_ingest_out_of_reach_is_reported_not_accepted(settings, closed_port):
    settings.SENTRY_DSN = f"http://public@127.0.0.1:{closed_port}/42"
    try:
        with pytest.raises(CommandError, match="did not accept the test event .*network"):
            call_command("sentry_test")
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_without_a_dsn_it_says_so_and_sends_nothing(fake_server, settings):
    settings.SENTRY_DSN = ""
    with pytest.raises(CommandError, match=r"^Sentry is not configured \(SENTRY_DSN is not set\)\.$") as raised:
        call_command("sentry_test")
    assert raised.value.returncode == 1
    assert fake_server.requests == [] and not sentry_sdk.get_client().is_active()
