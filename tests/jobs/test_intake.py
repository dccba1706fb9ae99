"""Job intake: POST /api/v1/jobs (201, the job) and the old POST /api/v1/intake (202
{"job_id","status"}) run the same checks; every refusal has the one error shape and stores nothing."""

import json
from decimal import Decimal

import pytest
from django.conf import settings

from jobs.models import DailySpend, IdempotencyRecord, Job, JobEvent
from tests.api_asserts import assert_api_error, error_fields
from tests.conftest import post_json

pytestmark = pytest.mark.django_db

JOBS, INTAKE = "/api/v1/jobs", "/api/v1/intake"
ENDPOINTS = [pytest.param(JOBS, id="jobs"), pytest.param(INTAKE, id="intake")]
VALID = {"workflow": "demo.flow", "payload": {"hello": "world"}}
PAYLOAD_LIMIT = 200 * 1024


def _body(**changes):
    body = {**VALID, **changes}
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()
LLM_MESSAGES = [{"role": "user", "content": "hi"}]


def send(client, path, body, content_type="application/json", **extra):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.generic("POST", path, data, content_type=content_type, **extra)


def assert_nothing_stored():
    assert Job.objects.count() == 0
    assert JobEvent.objects.count() == 0
    assert IdempotencyRecord.objects.count() == 0
    assert sum(DailySpend.objects.values_list("amount", flat=True), Decimal(0)) == 0


# (id, body, expected error code, fields named in details.errors, or None when not a schema error)
REFUSED_400 = [
    # JSON that does not parse, or that no JSON column can store (PostgreSQL's jsonb refuses these).
    ("truncated_json", b'{"workflow": "demo.flow",', "invalid_json", None),
    ("not_utf8", b'{"workflow": "demo.flow", "payload": {"x": "\xff"}}', "invalid_json", None),
    ("nan", b'{"workflow": "demo.flow", "payload": {"x": NaN}}', "invalid_json", None),
    ("infinity", b'{"workflow": "demo.flow", "payload": {"x": -Infinity}}', "invalid_json", None),
    ("float_overflow", b'{"workflow": "demo.flow", "payload": {"x": 1e999}}', "invalid_json", None),
    ("nul_in_string", b'{"workflow": "demo.flow", "payload": {"x": "a\\u0000b"}}', "invalid_json", None),
    ("nul_in_key", b'{"workflow": "demo.flow", "payload": {"a\\u0000": 1}}', "invalid_json", None),
    ("nul_in_callback", b'{"workflow": "demo.flow", "payload": {}, "callback_url": "https://e.com/\\u0000"}',
     "invalid_json", None),
    ("lone_surrogate", b'{"workflow": "demo.flow", "payload": {"x": "\\ud800"}}', "invalid_json", None),
    ("too_deep", b'{"workflow": "demo.flow", "payload": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     "invalid_json", None),
    # The old intake schema (additionalProperties: false).
    ("body_not_object", [VALID], "validation_failed", ["body"]),
    ("workflow_missing", _body(workflow=_DROP), "validation_failed", ["workflow"]),
    ("workflow_empty", _body(workflow=""), "validation_failed", ["workflow"]),
    ("workflow_129_chars", _body(workflow="w" * 129), "validation_failed", ["workflow"]),
    ("workflow_not_string", _body(workflow=7), "validation_failed", ["workflow"]),
    ("payload_missing", _body(payload=_DROP), "validation_failed", ["payload"]),
    ("payload_string", _body(payload="hello"), "validation_failed", ["payload"]),
    ("payload_list", _body(payload=[1, 2]), "validation_failed", ["payload"]),
    ("payload_null", _body(payload=None), "validation_failed", ["payload"]),
    ("priority_unknown", _body(priority="urgent"), "validation_failed", ["priority"]),
    ("priority_number", _body(priority=2), "validation_failed", ["priority"]),
    ("callback_1025_chars", _body(callback_url="https://example.com/" + "a" * 1005), "validation_failed",
     ["callback_url"]),
    ("callback_empty", _body(callback_url=""), "validation_failed", ["callback_url"]),
    ("extra_field", _body(user="x"), "validation_failed", ["user"]),
    ("two_extra_fields", _body(b=1, a=2), "validation_failed", ["a", "b"]),
    ("two_problems", _body(workflow=_DROP, priority="now"), "validation_failed", ["priority", "workflow"]),
    # A workflow nobody registered.
    ("unknown_workflow", _body(workflow="no.such.flow"), "unknown_workflow", None),
    ("unknown_workflow_128_chars", _body(workflow="w" * 128), "unknown_workflow", None),
    # The workflow's own payload schema: details name the field.
    ("demo_delay_not_int", _body(payload={"delay_ms": "soon"}), "invalid_payload", ["payload.delay_ms"]),
    ("demo_delay_too_long", _body(payload={"delay_ms": 10_001}), "invalid_payload", ["payload.delay_ms"]),
    ("http_url_missing", {"workflow": "http.request", "payload": {"method": "GET"}}, "invalid_payload",
     ["payload.url"]),
    ("http_url_not_uri", {"workflow": "http.request", "payload": {"url": "http://exa mple.com/"}},
     "invalid_payload", ["payload.url"]),
    ("http_url_ftp", {"workflow": "http.request", "payload": {"url": "ftp://example.com/f"}}, "invalid_payload",
     ["payload.url"]),
    ("http_extra_field", {"workflow": "http.request", "payload": {"url": "https://e.com", "verb": "GET"}},
     "invalid_payload", ["payload.verb"]),
    ("llm_bad_role", {"workflow": "llm.chat", "payload": {"messages": [{"role": "robot", "content": "hi"}]}},
     "invalid_payload", ["payload.messages[0].role"]),
    ("llm_second_message_no_content",
     {"workflow": "llm.chat", "payload": {"messages": [*LLM_MESSAGES, {"role": "user"}]}},
     "invalid_payload", ["payload.messages[1].content"]),
    ("llm_no_messages", {"workflow": "llm.chat", "payload": {"messages": []}}, "invalid_payload",
     ["payload.messages"]),
    # callback_url that no callback could be sent to.
    ("callback_ftp", _body(callback_url="ftp://example.com/hook"), "invalid_callback_url", None),
    ("callback_javascript", _body(callback_url="javascript:alert(1)"), "invalid_callback_url", None),
    ("callback_no_host", _body(callback_url="https:///hook"), "invalid_callback_url", None),
    ("callback_relative", _body(callback_url="/hook"), "invalid_callback_url", None),
    ("callback_bad_ipv6", _body(callback_url="http://[::1/hook"), "invalid_callback_url", None),
]


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(("body", "code", "fields"), [pytest.param(*case[1:], id=case[0]) for case in REFUSED_400])
def test_refused_with_400_and_nothing_stored(api, path, body, code, fields):
    body_out = assert_api_error(send(api, path, body), 400, code)
    if fields is not None:
        assert error_fields(body_out) == fields
        assert all(item["message"] for item in body_out["details"]["errors"])
    if code == "unknown_workflow":
        assert body_out["details"]["field"] == "workflow"
        assert "demo.flow" in body_out["details"]["known"]
    if code == "invalid_callback_url":
        assert body_out["details"] == {"field": "callback_url"}
    assert_nothing_stored()


def test_uri_format_errors_say_so(api):
    body = assert_api_error(send(api, JOBS, {"workflow": "http.request", "payload": {"url": "http://exa mple.com/"}}),
                            400, "invalid_payload")
    assert body["details"]["workflow"] == "http.request"
    assert body["details"]["errors"][0]["validator"] == "format"
    assert "uri" in body["details"]["errors"][0]["message"]


@pytest.mark.parametrize(("path", "status"), [(JOBS, 415), (INTAKE, 400)])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/octet-stream", "application/jsonx"])
def test_wrong_content_type(api, path, status, content_type):
    # The old intake answered 400 here and keeps doing so; the new endpoint answers 415.
    body = assert_api_error(send(api, path, VALID, content_type=content_type), status, "invalid_content_type")
    assert body["message"] == "Content-Type must be application/json"
    assert body["details"]["content_type"] == content_type
    assert_nothing_stored()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_content_type_with_charset_is_accepted(api, path):
    response = send(api, path, VALID, content_type="application/json; charset=utf-8")
    assert response.status_code in (201, 202), response.content


@pytest.mark.parametrize("path", ENDPOINTS)
def test_payload_over_200_kib_is_413(api, path):
    body = assert_api_error(send(api, path, _body(payload={"blob": "x" * PAYLOAD_LIMIT})), 413, "payload_too_large")
    assert body["details"]["field"] == "payload"
    assert body["details"]["limit_bytes"] == PAYLOAD_LIMIT
    assert body["details"]["size_bytes"] == PAYLOAD_LIMIT + len('{"blob":""}')
    assert_nothing_stored()


def test_payload_of_exactly_200_kib_is_accepted(api):
    # {"blob":"..."} serialised compactly is 11 bytes plus the string.
    at_limit = {"blob": "x" * (PAYLOAD_LIMIT - 11)}
    assert send(api, JOBS, _body(payload=at_limit)).status_code == 201
    assert_api_error(send(api, JOBS, _body(payload={"blob": "x" * (PAYLOAD_LIMIT - 10)})), 413, "payload_too_large")
    assert Job.objects.count() == 1


class UnreadableInput:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


@pytest.mark.parametrize("path", ENDPOINTS)
def test_body_over_512_kib_is_refused_from_content_length_without_reading_it(api, path):
    response = api.generic("POST", path, b"{}", content_type="application/json",
                           CONTENT_LENGTH=str(512 * 1024 + 1), **{"wsgi.input": UnreadableInput()})
    body = assert_api_error(response, 413, "request_too_large")
    assert body["details"] == {"limit_bytes": 512 * 1024, "content_length": 512 * 1024 + 1}
    assert response["Connection"] == "close"  # the unread body must not be parsed as a next request
    assert_nothing_stored()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_real_body_over_512_kib_is_413_and_nothing_stored(api, path):
    huge = json.dumps(_body(payload={"blob": "x" * (600 * 1024)})).encode()
    assert_api_error(send(api, path, huge), 413, "request_too_large")
    assert_nothing_stored()


def test_body_limit_holds_before_authentication(client):
    # Even an unauthenticated sender cannot make the server read a huge body.
    response = client.generic("POST", INTAKE, b"{}", content_type="application/json",
                              CONTENT_LENGTH=str(10 * 1024 * 1024), **{"wsgi.input": UnreadableInput()})
    assert_api_error(response, 413, "request_too_large")


def test_jobs_answers_201_with_the_full_job(api):
    body = {"workflow": "demo.flow", "payload": {"hello": "world", "n": [1, 2.5, None]},
            "callback_url": "https://example.com/hooks/levqor", "priority": "high"}
    response = send(api, JOBS, body)
    assert response.status_code == 201, response.content
    job = Job.objects.get()
    data = response.json()
    assert response["Location"] == f"/api/v1/jobs/{job.pk}"
    assert data == {
        "id": str(job.pk), "object": "job", "livemode": True, "workflow": "demo.flow", "status": "queued",
        "priority": "high", "payload": body["payload"], "callback_url": body["callback_url"], "result": None,
        "error": None, "attempts": 0, "max_attempts": 3, "next_attempt_at": data["next_attempt_at"],
        "cancel_requested_at": None, "estimated_cost": "0.001000", "actual_cost": None, "callback_status": "none",
        "created_at": data["created_at"], "started_at": None, "finished_at": None,
    }
    assert data["created_at"].endswith("Z")  # ISO 8601 UTC
    assert job.owner == api.user and job.priority == Job.Priority.HIGH and job.payload == body["payload"]
    assert list(job.events.values_list("kind", "to_status")) == [("created", "queued")]


def test_intake_answers_202_with_only_id_and_status(api):
    response = post_json(api, INTAKE, {**VALID, "priority": "low"})
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert response.json() == {"job_id": str(job.pk), "status": "queued"}
    assert job.priority == Job.Priority.LOW and job.owner == api.user and job.livemode is True
    assert job.estimated_cost == Decimal("0.001")


def test_priority_defaults_to_normal(api):
    post_json(api, INTAKE, VALID)
    assert Job.objects.get().priority == Job.Priority.NORMAL


@pytest.mark.parametrize("payload", [{"text": "héllo wörld ✓ 😀"}, {"nested": {"deep": [{"ok": True}] * 3}}, {}])
def test_payload_is_stored_as_sent(api, payload):
    response = post_json(api, JOBS, _body(payload=payload))
    assert response.status_code == 201, response.content
    assert Job.objects.get().payload == payload
    assert response.json()["payload"] == payload


def test_correlation_id_from_the_caller_is_in_the_error(api):
    response = send(api, JOBS, b"nope", HTTP_X_REQUEST_ID="req-abc.123")
    assert assert_api_error(response, 400, "invalid_json")["correlation_id"] == "req-abc.123"


def test_refusals_do_not_touch_the_budget(api, settings):
    settings.DAILY_BUDGET = Decimal("0.0015")  # room for one demo.flow job (0.001) only
    for body in (b"{", _body(priority="x"), _body(payload={"delay_ms": -1}), _body(callback_url="ftp://x")):
        assert send(api, INTAKE, body).status_code == 400
    assert send(api, INTAKE, VALID).status_code == 202


def test_known_workflows_are_listed(api):
    data = api.get("/api/v1/workflows").json()["data"]
    names = [w["name"] for w in data]
    assert names == sorted(names) and {"demo.flow", "http.request", "llm.chat"} <= set(names)
    assert all(set(w) == {"name", "description", "payload_schema", "timeout_seconds", "max_attempts"} for w in data)


def test_the_limits_are_the_documented_ones():
    assert settings.MAX_REQUEST_BODY_BYTES == 512 * 1024
    assert settings.JOB_PAYLOAD_MAX_BYTES == PAYLOAD_LIMIT


def test_a_content_length_that_is_not_a_number_is_400(api):
    response = api.generic("POST", INTAKE, b"{}", content_type="application/json", CONTENT_LENGTH="lots",
                           **{"wsgi.input": UnreadableInput()})
    assert_api_error(response, 400, "bad_request")
    assert_nothing_stored()
