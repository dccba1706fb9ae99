"""module_run, the handler of partner.<slug> jobs, against real local servers: what it sends, and
how each kind of answer ends the attempt (result, transient, permanent with the module's code)."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from jobs.workflows.base import JobCancelled, JobContext, JobError, JobErrorCode, TransientJobError
from levqor.rotating_secret import secret_rotate
from levqor.webhooks.signing import webhook_secret_generate
from marketplace.services.module_runs import module_run
from tests.marketplace.store_support import listing_make
from tests.webhook_receiver import received_verifies

pytestmark = pytest.mark.django_db
JOB_ID = "4f0c6c1e-8f1a-4a57-9a55-3a1b2b8f9c01"


def context(*, livemode=True, attempt=1, timeout=30.0, cancelled=False) -> JobContext:
    return JobContext(job_id=JOB_ID, attempt=attempt, livemode=livemode, timeout_seconds=timeout,
                      cancel_requested=lambda: cancelled)


@pytest.fixture
def raw_server():
    """A local server answering one scripted raw answer: server.answer = (status, bytes)."""

    class Server:
        answer = (200, b"{}")
        requests = 0

    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests += 1
            status, data = state.answer
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/run"
    yield state
    server.shutdown()
    server.server_close()


def test_the_request_is_signed_with_every_valid_secret_during_a_rotation(fake_server):
    listing = listing_make(endpoint=f"{fake_server.url}/run")
    old = listing.secret
    secret_rotate(listing, new_secret=webhook_secret_generate(), overlap=timedelta(hours=1))
    listing.save()
    fake_server.responses.append((200, {"done": 1}))
    assert module_run(context(attempt=2), {"text": "x"}, listing_id=listing.pk) == {"done": 1}
    (request,) = fake_server.requests
    assert received_verifies(request, old) and received_verifies(request, listing.secret)
    assert json.loads(request["body"])["attempt"] == 2
    assert request["headers"]["webhook-id"] == f"msg_job_{JOB_ID}"
    assert abs(int(request["headers"]["webhook-timestamp"]) - timezone.now().timestamp()) < 5


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retryable(status, fake_server):
    listing = listing_make(endpoint=f"{fake_server.url}/run")
    fake_server.responses.append((status, {"error": "later"}))
    with pytest.raises(TransientJobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    assert caught.value.code == JobErrorCode.UPSTREAM_STATUS and caught.value.details["status"] == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_are_permanent_rejections(status, fake_server):
    listing = listing_make(endpoint=f"{fake_server.url}/run")
    fake_server.responses.append((status, {"error": "x" * 2000}))
    with pytest.raises(JobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    error = caught.value
    assert not error.retryable and error.code == "module_rejected"
    assert error.details["status"] == status and len(error.details["snippet"]) <= 300


@pytest.mark.parametrize("answer", [b"not json", b"[1, 2]", b'"text"', b"", b'{"a": NaN}', b"\xff\xfe"])
def test_a_2xx_that_is_not_a_json_object_is_a_bad_response(answer, raw_server):
    listing = listing_make(endpoint=raw_server.url)
    raw_server.answer = (200, answer)
    with pytest.raises(JobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    assert not caught.value.retryable and caught.value.code == "module_bad_response"


def test_an_answer_over_the_cap_is_a_bad_response_and_one_at_the_cap_is_kept(raw_server, settings):
    settings.MARKETPLACE_MODULE_MAX_RESPONSE_BYTES = 1000
    listing = listing_make(endpoint=raw_server.url)
    exact = json.dumps({"data": "y" * (1000 - 12)}).encode()
    assert len(exact) == 1000
    raw_server.answer = (200, exact)
    assert module_run(context(), {"text": "x"}, listing_id=listing.pk) == {"data": "y" * 988}
    raw_server.answer = (200, json.dumps({"data": "y" * 5000}).encode())
    with pytest.raises(JobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    assert caught.value.code == "module_bad_response" and "1000" in caught.value.message


def test_an_unreachable_partner_is_transient(closed_port):
    listing = listing_make(endpoint=f"http://127.0.0.1:{closed_port}/run")
    with pytest.raises(TransientJobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    assert caught.value.code == JobErrorCode.UPSTREAM_UNREACHABLE


def test_a_private_target_is_refused_by_the_guard(fake_server, settings_outbound_strict):
    listing = listing_make(endpoint=f"{fake_server.url}/run")
    with pytest.raises(JobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    assert not caught.value.retryable and caught.value.code == JobErrorCode.TARGET_NOT_ALLOWED
    assert fake_server.requests == []


def test_an_http_endpoint_is_refused_where_https_is_required(fake_server, settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    listing = listing_make(endpoint=f"{fake_server.url}/run")
    with pytest.raises(JobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing.pk)
    assert caught.value.code == JobErrorCode.TARGET_NOT_ALLOWED and "https" in caught.value.message
    assert fake_server.requests == []


def test_a_cancelled_job_makes_no_call(fake_server):
    listing = listing_make(endpoint=f"{fake_server.url}/run")
    with pytest.raises(JobCancelled):
        module_run(context(cancelled=True), {"text": "x"}, listing_id=listing.pk)
    assert fake_server.requests == []


def test_the_call_never_outlasts_the_jobs_own_deadline(settings):
    from tests.webhook_receiver import SlowReceiver

    slow = SlowReceiver("late")  # 2.5 s; the policy allows 5 s, the job has 0.5 s left
    try:
        listing = listing_make(endpoint=slow.url)
        started = timezone.now()
        with pytest.raises(TransientJobError) as caught:
            module_run(context(timeout=0.5), {"text": "x"}, listing_id=listing.pk)
        assert (timezone.now() - started).total_seconds() < 1.5
        assert caught.value.code == JobErrorCode.UPSTREAM_TIMEOUT
    finally:
        slow.close()


def test_a_listing_gone_since_the_job_was_queued_fails_without_a_call():
    listing = listing_make()
    listing_id = listing.pk
    listing.delete()
    with pytest.raises(JobError) as caught:
        module_run(context(), {"text": "x"}, listing_id=listing_id)
    assert caught.value.code == "module_unavailable"
