"""One JSON line per request with the final status, and no secret in any log line."""

import io
import json
import logging

import pytest
from django.test import Client

from accounts.models import ApiKey
from levqor.request_log import request_log_flush
from tests.conftest import post_json
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_output(caplog):
    """Everything logged, at DEBUG for every logger: pytest's capture and the configured console
    handler's real output (JSON lines, after its redaction filter)."""
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict) + ["django.request", "django.db.backends", "levqor.request"]:
        caplog.set_level(logging.DEBUG, logger=name)
    console = next(h for h in logging.root.handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        yield caplog, stream
    finally:
        console.setStream(previous)


def request_lines(stream):
    request_log_flush()  # the lines are written off the request path
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "levqor.request"]


def test_one_line_per_request_with_the_final_status_key_prefix_and_user(log_output, client_for):
    _, stream = log_output
    user, raw = api_key_for()
    prefix = ApiKey.objects.get(owner=user).prefix
    client = client_for(raw)
    ok = client.get(f"/api/v1/users/{user.pk}", HTTP_USER_AGENT="curl/8.5", HTTP_X_REQUEST_ID="req-123")
    missing = client.get("/no/such/page")
    client_for("lvk_live_" + "0" * 32).get(f"/api/v1/users/{user.pk}")
    too_big = Client().post("/api/v1/users/upsert", data="x" * (600 * 1024), content_type="application/json")
    lines = request_lines(stream)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("GET", f"/api/v1/users/{user.pk}", 200), ("GET", "/no/such/page", 404),
        ("GET", f"/api/v1/users/{user.pk}", 401), ("POST", "/api/v1/users/upsert", 413)]
    first = lines[0]
    assert first["key_prefix"] == prefix and first["user_id"] == str(user.pk)
    assert first["correlation_id"] == "req-123" == ok["X-Request-ID"]
    assert first["user_agent"] == "curl/8.5" and first["client_ip"] == "127.0.0.1"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert lines[1]["correlation_id"] == missing["X-Request-ID"]
    assert lines[2]["key_prefix"] is None and lines[2]["user_id"] is None
    assert lines[3]["correlation_id"] == too_big["X-Request-ID"]


@pytest.mark.urls("tests.levqor.crash_urls")
def test_crashing_views_are_logged_with_status_500(log_output):
    _, stream = log_output
    client = Client(raise_request_exception=False)
    assert client.get("/api/v1/test-crash").status_code == 500
    assert client.get("/test-crash/plain").status_code == 500
    assert [(line["path"], line["status"]) for line in request_lines(stream)] == [
        ("/api/v1/test-crash", 500), ("/test-crash/plain", 500)]


def test_secrets_never_reach_any_log_line(log_output, client_for, django_user_model):
    caplog, stream = log_output
    user, raw = api_key_for()
    password = "correct-horse-battery-9"  # noqa: S105
    staff = django_user_model.objects.create_user("staff@example.com", password, is_staff=True)

    x_api_key = client_for(raw)
    x_api_key.get(f"/api/v1/users/{user.pk}")
    post_json(x_api_key, "/api/v1/users/upsert", {"email": "not-an-email", "meta": {"password": password}})
    client_for(raw, header="Authorization").get(f"/api/v1/users/{user.pk}", {"api_key": raw})
    # A key in the query string of pages that answer 404 and 401: Django logs those requests.
    Client().get("/no/such/page", {"api_key": raw, "token": raw, "password": password})
    Client().get(f"/api/v1/users/{user.pk}?api_key={raw}&secret={password}")
    # A password in a form body: an API that takes JSON only, and the admin's login form.
    Client().post("/api/v1/users/upsert", {"email": "a@example.com", "password": password},
                  HTTP_X_API_KEY=raw, HTTP_COOKIE=f"sessionid={password}")
    Client().post("/admin/login/", {"username": staff.email, "password": password})
    Client().post("/admin/login/", {"username": staff.email, "password": password + "-wrong"})
    logging.getLogger("levqor.test").warning("a careless %s line", raw, extra={"api_key": raw, "headers": {
        "Authorization": f"Bearer {raw}", "Cookie": f"sessionid={password}"}})
    try:
        raise ValueError(f"boom with {raw} and password={password}")
    except ValueError:
        logging.getLogger("levqor.test").exception("an error carrying secrets")

    request_log_flush()  # the request lines are written off the request path
    console = stream.getvalue()
    formatted = "\n".join(logging.root.handlers[0].format(record) for record in caplog.records)
    captured = caplog.text + console + formatted
    assert len(request_lines(stream)) == 8, console  # the requests were logged ...
    assert "a careless" in console and "an error carrying secrets" in console and "Traceback" in console
    for secret in (raw, raw[len("lvk_live_"):], password):
        assert secret not in captured  # ... and no secret with them
