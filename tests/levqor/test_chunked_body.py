"""A request body sent chunked (Transfer-Encoding: chunked, no Content-Length) is read, within the
512 KiB limit, on both intake endpoints and both of their paths (the API-key fast path and DRF's):
through the WSGI application gunicorn serves, and through a real gunicorn. Past the limit it is
413 while reading, never read to its end; a server that cannot end the body for us gets 411."""

import http.client
import io
import json
import re
import subprocess
import sys
import wsgiref.util

import httpx
import pytest
from django.conf import settings
from django.test import Client

from jobs.models import Job
from levqor.wsgi import application
from tests.factories import api_key_for
from tests.jobs.support import worker_env
from tests.processes import process_stop, server_wait

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 512 * 1024
PATHS = [
    pytest.param("/api/v1/jobs", 201, id="jobs"),
    pytest.param("/api/v1/jobs?format=json", 201, id="jobs-drf"),
    pytest.param("/api/v1/intake", 202, id="intake"),
    pytest.param("/api/v1/intake?format=json", 202, id="intake-drf"),
]
PAYLOAD = {"hello": "chunked", "pad": "x" * 300}


def _job_body(**payload) -> bytes:
    return json.dumps({"workflow": "demo.flow", "payload": {**PAYLOAD, **payload}}).encode()


def _job_id(body: dict) -> str:
    return body.get("id") or body["job_id"]


def _assert_error(status, headers, body, *, expect_status, code):
    assert status == expect_status, (status, body)
    assert set(body) == {"error", "message", "details", "correlation_id"}, body
    assert body["error"] == code and body["correlation_id"] == headers["X-Request-ID"], body


class EndlessInput:
    """A wsgi.input that never ends, counting what was read: a sender that keeps sending."""

    def __init__(self):
        self.read_bytes = 0

    def read(self, size=-1):
        assert size is not None and size >= 0, "asked to read to the end of an endless body"
        self.read_bytes += size
        return b"x" * size

    def readline(self, size=-1):
        raise AssertionError("a JSON body is not read by lines")


def _wsgi_post(path, stream, *, raw_key, terminated=True):
    """POST through levqor.wsgi.application with the environ gunicorn gives a chunked request:
    no CONTENT_LENGTH, Transfer-Encoding: chunked, a wsgi.input that ends at the body's end."""
    path, _, query = path.partition("?")
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": "127.0.0.1",
               "CONTENT_TYPE": "application/json", "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_X_API_KEY": raw_key,
               "REMOTE_ADDR": "127.0.0.1", "wsgi.input": stream}
    if terminated:
        environ["wsgi.input_terminated"] = True
    wsgiref.util.setup_testing_defaults(environ)
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = int(status.split()[0]), dict(headers)

    result = application(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        result.close()  # as a WSGI server does: Django's request_finished
    return started["status"], started["headers"], json.loads(content)


@pytest.mark.parametrize("path, status", PATHS)
def test_a_chunked_body_is_read_through_the_wsgi_application(path, status):
    user, raw = api_key_for()
    code, headers, body = _wsgi_post(path, io.BytesIO(_job_body(n=1)), raw_key=raw)
    assert code == status, body
    job = Job.objects.get(pk=_job_id(body), owner=user)
    assert job.payload == {**PAYLOAD, "n": 1}


@pytest.mark.parametrize("path, status", PATHS)
def test_an_endless_chunked_body_is_413_after_reading_just_past_the_limit(path, status):
    _, raw = api_key_for()
    stream = EndlessInput()
    code, headers, body = _wsgi_post(path, stream, raw_key=raw)
    _assert_error(code, headers, body, expect_status=413, code="request_too_large")
    assert body["details"] == {"limit_bytes": LIMIT}
    assert headers["Connection"] == "close"
    assert stream.read_bytes == LIMIT + 1
    assert not Job.objects.exists()


def test_a_chunked_body_of_exactly_the_limit_is_read():
    _, raw = api_key_for()
    body = _job_body()
    body = body[:-2] + b', "fill": "' + b"y" * (LIMIT - len(body) - 12) + b'"}}'
    assert len(body) == LIMIT
    code, _, answer = _wsgi_post("/api/v1/jobs", io.BytesIO(body), raw_key=raw)
    # Read whole and parsed: refused by the payload check (200 KiB), not by the body limit.
    assert (code, answer["error"]) == (413, "payload_too_large"), answer


def test_a_chunked_body_no_one_could_read_is_411_not_an_empty_body():
    # Django's own server (runserver, the test client) does not end wsgi.input at the body's end.
    _, raw = api_key_for()
    response = Client().generic("POST", "/api/v1/jobs", content_type="application/json", HTTP_X_API_KEY=raw,
                                HTTP_TRANSFER_ENCODING="chunked")
    _assert_error(response.status_code, response, response.json(), expect_status=411, code="length_required")
    assert not Job.objects.exists()


def test_a_real_chunked_request_to_the_live_server_is_411(live_server):
    _, raw = api_key_for()
    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        response = client.post("/api/v1/intake", content=iter([_job_body()]),
                               headers={"X-Api-Key": raw, "Content-Type": "application/json"})
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    _assert_error(response.status_code, response.headers, response.json(), expect_status=411, code="length_required")


# --- a real gunicorn, as `make run` serves ------------------------------------------------------

@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn serving levqor.wsgi on a free port, on this test's database; yields its port."""
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "levqor.wsgi:application", "--bind", "127.0.0.1:0", "--workers", "1"],
            cwd=settings.BASE_DIR, env=worker_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base_url = server_wait(proc, log, _gunicorn_base_url, timeout=30, what="gunicorn")
        yield int(base_url.rsplit(":", 1)[1])
    finally:
        process_stop(proc)


def _gunicorn_base_url(text: str) -> str | None:
    found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", text)
    return found.group(1) if found and "Booting worker" in text else None


def _chunked_post(port: int, path: str, parts, *, raw_key: str):
    """A real chunked request (http.client sends an iterable body chunk by chunk, no Content-Length)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("POST", path, body=iter(parts), encode_chunked=True,
                     headers={"X-Api-Key": raw_key, "Content-Type": "application/json", "Accept": "application/json"})
        response = conn.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.slow
def test_real_chunked_requests_to_gunicorn(gunicorn):
    user, raw = api_key_for()
    for param in PATHS:
        path, status = param.values
        body = _job_body(path=path)
        parts = [body[:7], body[7:100], body[100:]]  # the JSON split across chunks
        code, headers, answer = _chunked_post(gunicorn, path, parts, raw_key=raw)
        assert code == status, (path, answer)
        assert Job.objects.get(pk=_job_id(answer), owner=user).payload == {**PAYLOAD, "path": path}

    # Over the limit, sent in 64 KiB chunks: 413 in the error shape, nothing stored.
    over = [b"x" * (64 * 1024)] * (LIMIT // (64 * 1024)) + [b"x"]
    code, headers, answer = _chunked_post(gunicorn, "/api/v1/jobs", over, raw_key=raw)
    _assert_error(code, headers, answer, expect_status=413, code="request_too_large")
    assert Job.objects.count() == len(PATHS)
