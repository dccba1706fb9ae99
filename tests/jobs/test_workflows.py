"""The built-in workflows against real HTTP servers: http.request calls a URL (never a private
one unless allowed), llm.chat talks to an OpenAI-compatible endpoint and bills real usage."""

import json
import socket
from decimal import Decimal

import pytest
from django_q.models import Schedule

from jobs import dispatch
from jobs.execution import job_run_next
from jobs.models import DailySpend
from levqor.outbound import OutboundTargetRefused, outbound_url_check
from tests.jobs.support import job_make_due, job_submit

pytestmark = pytest.mark.django_db


def _run(job):
    job_run_next()
    job.refresh_from_db()
    return job


# --- http.request -----------------------------------------------------------------------------

def test_http_request_returns_the_response_and_carries_the_job_id(user, fake_server):
    fake_server.responses = [(201, {"created": True})]
    job = job_submit(user, "http.request", {
        "method": "POST", "url": fake_server.url + "/orders?src=levqor", "body": {"sku": "A1", "qty": 2},
        "headers": {"X-Custom": "yes", "X-Levqor-Job-Id": "spoofed", "Host": "evil.example"},
    })
    job = _run(job)
    assert job.status == "succeeded", job.error_message
    assert job.result["status"] == 201
    assert json.loads(job.result["body"]) == {"created": True}
    assert job.result["body_truncated"] is False
    assert job.result["headers"]["content-type"] == "application/json"

    [request] = fake_server.requests
    assert (request["method"], request["path"]) == ("POST", "/orders?src=levqor")
    assert json.loads(request["body"]) == {"sku": "A1", "qty": 2}
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["x-custom"] == "yes"
    # The job id the far end sees is the real one (for deduplicating retries); callers cannot spoof it.
    assert headers["x-levqor-job-id"] == str(job.pk)
    assert headers["host"] != "evil.example"


def test_http_request_caps_the_body_it_keeps(user, fake_server, settings):
    settings.HTTP_REQUEST_MAX_RESPONSE_BYTES = 100
    fake_server.responses = [(200, {"data": "x" * 5000})]
    job = _run(job_submit(user, "http.request", {"url": fake_server.url + "/big"}))
    assert job.status == "succeeded"
    assert len(job.result["body"]) == 100
    assert job.result["body"].startswith('{"data": "xxx')
    assert job.result["body_truncated"] is True


def test_http_request_retries_a_503_then_succeeds(user, fake_server, django_capture_on_commit_callbacks):
    fake_server.responses = [(503, {"error": "busy"}), (200, {"ok": True})]
    job = job_submit(user, "http.request", {"url": fake_server.url + "/flaky"})
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(job)
    assert (job.status, job.error_code, job.attempts) == ("queued", "upstream_status", 1)
    failed = job.events.get(kind="attempt_failed")
    assert (failed.data["retryable"], failed.data["response"]["status"]) == (True, 503)
    assert Schedule.objects.filter(func=dispatch.RUN_NEXT, next_run=job.next_attempt_at).exists()

    job_make_due(job)
    job = _run(job)
    assert (job.status, job.attempts, job.result["status"]) == ("succeeded", 2, 200)
    assert len(fake_server.requests) == 2
    assert {r["headers"]["X-Levqor-Job-Id"] for r in fake_server.requests} == {str(job.pk)}


def test_http_request_keeps_a_4xx_answer_as_the_result(user, fake_server):
    fake_server.responses = [(404, {"error": "nope"})]
    job = _run(job_submit(user, "http.request", {"url": fake_server.url + "/missing"}))
    assert (job.status, job.result["status"], job.attempts) == ("succeeded", 404, 1)


@pytest.fixture
def dns_points_at_loopback(monkeypatch):
    """A public-looking hostname whose DNS answer is 127.0.0.1 (the classic SSRF/rebinding trick)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == "internal.example.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "internal.example.test"


@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://[::1]:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://0.0.0.0:{port}/", "http://2130706433:{port}/", "http://internal.example.test:{port}/",
    "http://10.0.0.7/", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "https://[fd00::1]/",
])
def test_http_request_refuses_private_targets(target, user, fake_server, settings_outbound_strict,
                                              dns_points_at_loopback, django_capture_on_commit_callbacks):
    port = fake_server.url.rsplit(":", 1)[1]
    job = job_submit(user, "http.request", {"url": target.format(port=port)})
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(job)
    assert (job.status, job.error_code, job.attempts) == ("failed", "target_not_allowed", 1)
    assert fake_server.requests == []
    assert not Schedule.objects.filter(func=dispatch.RUN_NEXT).exists(), "a refused target is not retried"


def test_outbound_check_allows_public_addresses_and_refuses_other_schemes(settings_outbound_strict):
    outbound_url_check("https://8.8.8.8/dns-query")
    outbound_url_check("http://[2606:4700:4700::1111]/")
    for url in ["ftp://8.8.8.8/", "file:///etc/passwd", "http:///nohost", "http://host.invalid./"]:
        with pytest.raises(OutboundTargetRefused):
            outbound_url_check(url)


def test_private_targets_are_allowed_when_settings_say_so(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    outbound_url_check("http://127.0.0.1/")
    with pytest.raises(OutboundTargetRefused):
        outbound_url_check("http://127.0.0.1/", allow_private=False)


# --- llm.chat ---------------------------------------------------------------------------------

COMPLETION = {
    "id": "chatcmpl-abc", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test-2025",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour !"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
}
CHAT = {"model": "gpt-test", "max_tokens": 64,
        "messages": [{"role": "system", "content": "Translate to French."}, {"role": "user", "content": "Hello!"}]}


@pytest.fixture
def llm_provider(fake_server, settings):
    settings.LLM_BASE_URL = fake_server.url + "/v1/"
    settings.LLM_API_KEY = "sk-test-levqor"
    settings.LLM_PRICE_INPUT_PER_1K = Decimal("0.5")
    settings.LLM_PRICE_OUTPUT_PER_1K = Decimal("1.5")
    return fake_server


def test_llm_chat_returns_the_message_and_bills_real_usage(user, llm_provider):
    llm_provider.responses = [(200, COMPLETION)]
    job = job_submit(user, "llm.chat", CHAT)
    job = _run(job)
    assert job.status == "succeeded", job.error_message
    assert job.result["message"] == {"role": "assistant", "content": "Bonjour !"}
    assert job.result["usage"] == {"input_tokens": 120, "output_tokens": 30}
    assert (job.result["model"], job.result["finish_reason"]) == ("gpt-test-2025", "stop")
    expected = Decimal(120) * Decimal("0.5") / 1000 + Decimal(30) * Decimal("1.5") / 1000
    assert job.actual_cost == expected == Decimal("0.105")
    # The day's spend is settled from the estimate to what the provider reported.
    assert job.estimated_cost != expected
    assert DailySpend.objects.get(owner=user).amount == expected

    [request] = llm_provider.requests
    assert (request["method"], request["path"]) == ("POST", "/v1/chat/completions")
    assert request["headers"]["Authorization"] == "Bearer sk-test-levqor"
    assert request["headers"]["X-Levqor-Job-Id"] == str(job.pk)
    assert json.loads(request["body"]) == {"model": "gpt-test", "messages": CHAT["messages"], "max_tokens": 64}


def test_llm_chat_without_a_provider_fails_at_once(user, fake_server, settings, django_capture_on_commit_callbacks):
    settings.LLM_BASE_URL = ""
    job = job_submit(user, "llm.chat", CHAT)
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(job)
    assert (job.status, job.error_code, job.attempts) == ("failed", "provider_not_configured", 1)
    assert job.actual_cost == 0
    assert not Schedule.objects.filter(func=dispatch.RUN_NEXT).exists()
    assert fake_server.requests == []


@pytest.mark.parametrize("status", [429, 500, 503])
def test_llm_chat_retries_rate_limits_and_provider_errors(status, user, llm_provider,
                                                          django_capture_on_commit_callbacks):
    llm_provider.responses = [(status, {"error": {"message": "slow down"}}), (200, COMPLETION)]
    job = job_submit(user, "llm.chat", CHAT)
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(job)
    assert (job.status, job.error_code, job.attempts) == ("queued", "provider_error", 1)
    assert Schedule.objects.filter(func=dispatch.RUN_NEXT, next_run=job.next_attempt_at).exists()
    job_make_due(job)
    job = _run(job)
    assert (job.status, job.attempts, job.actual_cost) == ("succeeded", 2, Decimal("0.105"))


@pytest.mark.parametrize("answer", [
    {"choices": []},
    {"choices": [{"message": {"role": "assistant", "content": "hi"}}]},  # no usage
    {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "many", "completion_tokens": 1}},
    {"choices": [{"message": "hi", "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}},
    {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": -100, "completion_tokens": 1}},
    "not an object",
])
def test_llm_chat_fails_on_a_malformed_answer(answer, user, llm_provider):
    llm_provider.responses = [(200, answer)]
    job = _run(job_submit(user, "llm.chat", CHAT))
    assert (job.status, job.error_code, job.attempts) == ("failed", "provider_bad_response", 1)


def test_llm_chat_fails_when_the_provider_rejects_the_request(user, llm_provider):
    llm_provider.responses = [(400, {"error": {"message": "model not found"}})]
    job = _run(job_submit(user, "llm.chat", CHAT))
    assert (job.status, job.error_code, job.attempts) == ("failed", "provider_rejected", 1)
    assert "model not found" in job.events.get(kind="attempt_failed").data["body"]


def test_http_request_is_not_fooled_by_dns_that_changes_its_answer(user, fake_server, settings_outbound_strict,
                                                                  dns_rebinding):
    """DNS rebinding: a public address when checked, loopback when connecting. The call must go
    to the address that was checked, or not at all."""
    port = fake_server.url.rsplit(":", 1)[1]
    job = _run(job_submit(user, "http.request", {"url": f"http://{dns_rebinding}:{port}/", "timeout_seconds": 2}))
    assert fake_server.requests == []
    assert job.error_code == "target_not_allowed"
