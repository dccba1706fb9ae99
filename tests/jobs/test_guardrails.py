"""Cost guardrails: a per-job limit and a daily budget per owner and mode, reserved at intake
and settled to the actual cost when the job ends."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from jobs.execution import job_run_next
from jobs.models import DailySpend, Job
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import api_key_for

JOBS, INTAKE = "/api/v1/jobs", "/api/v1/intake"
DEMO = {"workflow": "demo.flow", "payload": {}}  # estimated at 0.001
MESSAGES = [{"role": "user", "content": "hi"}]


def llm(max_tokens=32000):
    # 1 input token + max_tokens output at the default prices: 32000 tokens estimate 0.019200.
    return {"workflow": "llm.chat", "payload": {"messages": MESSAGES, "max_tokens": max_tokens}}


def spend(user, livemode=True) -> Decimal:
    return sum(DailySpend.objects.filter(owner=user, livemode=livemode).values_list("amount", flat=True), Decimal(0))


@pytest.mark.django_db
@pytest.mark.parametrize("path", [JOBS, INTAKE])
def test_a_job_over_the_default_per_job_limit_is_refused(api, settings, path):
    assert settings.JOB_COST_LIMIT == Decimal("0.35")
    settings.LLM_PRICE_OUTPUT_PER_1K = Decimal("0.02")  # a pricier model: 32000 tokens estimate 0.64
    body = assert_api_error(post_json(api, path, llm()), 422, "cost_limit_exceeded")
    assert body["details"] == {"estimated_cost": "0.640000", "per_job_limit": "0.35"}
    assert "0.35" in body["message"]
    assert not Job.objects.exists() and spend(api.user) == 0
    # The same request within the limit goes through.
    assert post_json(api, path, llm(max_tokens=1000)).status_code in (201, 202)


@pytest.mark.django_db
def test_the_per_job_limit_is_inclusive(api, settings):
    settings.JOB_COST_LIMIT = Decimal("0.0192")
    assert post_json(api, JOBS, llm()).json()["estimated_cost"] == "0.019200"
    settings.JOB_COST_LIMIT = Decimal("0.019199")
    body = assert_api_error(post_json(api, JOBS, llm()), 422, "cost_limit_exceeded")
    assert Decimal(body["details"]["estimated_cost"]) == Decimal("0.0192")
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_the_daily_budget_stops_intake_with_the_figures(api, settings):
    settings.DAILY_BUDGET = Decimal("0.0025")
    assert post_json(api, INTAKE, DEMO).status_code == 202
    assert post_json(api, INTAKE, DEMO).status_code == 202
    body = assert_api_error(post_json(api, INTAKE, DEMO), 422, "cost_limit_exceeded")
    details = body["details"]
    assert set(details) == {"estimated_cost", "spent_today", "daily_budget"}
    assert Decimal(details["spent_today"]) == Decimal("0.002")
    assert Decimal(details["estimated_cost"]) == Decimal("0.001")
    assert details["daily_budget"] == "0.0025"
    assert Job.objects.count() == 2 and spend(api.user) == Decimal("0.002")


@pytest.mark.django_db
def test_a_job_that_exactly_fills_the_budget_is_accepted(api, settings):
    settings.DAILY_BUDGET = Decimal("0.002")
    assert post_json(api, JOBS, DEMO).status_code == 201
    assert post_json(api, JOBS, DEMO).status_code == 201
    assert_api_error(post_json(api, JOBS, DEMO), 422, "cost_limit_exceeded")


@pytest.mark.django_db
def test_budgets_are_per_owner_and_per_mode(api, client_for, settings):
    settings.DAILY_BUDGET = Decimal("0.001")
    assert post_json(api, JOBS, DEMO).status_code == 201
    assert_api_error(post_json(api, JOBS, DEMO), 422, "cost_limit_exceeded")
    # The same owner's test-mode key has its own budget, as does another owner.
    _, test_raw = api_key_for(api.user, livemode=False)
    assert post_json(client_for(test_raw), JOBS, DEMO).status_code == 201
    _, other_raw = api_key_for()
    assert post_json(client_for(other_raw), JOBS, DEMO).status_code == 201
    assert spend(api.user, livemode=True) == spend(api.user, livemode=False) == Decimal("0.001")


@pytest.mark.django_db
def test_yesterdays_spend_does_not_count_today(api, settings):
    settings.DAILY_BUDGET = Decimal("0.001")
    DailySpend.objects.create(owner=api.user, livemode=True, day=timezone.now().date() - timedelta(days=1),
                              amount=Decimal("0.001"))
    assert post_json(api, JOBS, DEMO).status_code == 201


@pytest.mark.django_db
def test_settlement_charges_what_a_demo_job_cost(api):
    post_json(api, JOBS, DEMO)
    assert spend(api.user) == Decimal("0.001")
    job = job_run_next()
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.actual_cost == Decimal("0.001")
    assert spend(api.user) == Decimal("0.001")


@pytest.mark.django_db
def test_settlement_refunds_a_job_that_failed_without_cost(api):
    post_json(api, JOBS, llm(max_tokens=1000))  # no LLM provider configured: fails before any call
    assert spend(api.user) == Decimal("0.000600")
    job = job_run_next()
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.actual_cost == 0
    assert spend(api.user) == 0


def _chat_completion(prompt_tokens, completion_tokens):
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


@pytest.mark.django_db
def test_settlement_moves_the_days_spend_to_the_actual_llm_cost(api, settings, fake_server):
    settings.LLM_BASE_URL = fake_server.url + "/v1"
    settings.DAILY_BUDGET = Decimal("0.03")  # room for one 0.0192 estimate, not two
    fake_server.responses.append((200, _chat_completion(1000, 500)))  # 0.00015 + 0.0003 = 0.00045
    job_id = post_json(api, JOBS, llm()).json()["id"]
    assert spend(api.user) == Decimal("0.0192")
    assert_api_error(post_json(api, JOBS, llm()), 422, "cost_limit_exceeded")

    job_run_next()
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.actual_cost == Decimal("0.00045")
    assert spend(api.user) == Decimal("0.00045")
    assert fake_server.requests[0]["path"] == "/v1/chat/completions"
    assert fake_server.requests[0]["headers"]["X-Levqor-Job-Id"] == job_id
    # The estimate's reservation was released down to the real cost: the next big job fits again.
    assert post_json(api, JOBS, llm()).status_code == 201
    assert spend(api.user) == Decimal("0.00045") + Decimal("0.0192")


def _submit_many(raws, body):
    barrier = threading.Barrier(len(raws))
    statuses = []
    lock = threading.Lock()

    def send(raw):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        try:
            barrier.wait(timeout=10)
            status = post_json(client, JOBS, body).status_code
            with lock:
                statuses.append(status)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(raw,)) for raw in raws]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return statuses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_intakes_never_overshoot_the_budget_postgres(key_pair, settings):
    settings.DAILY_BUDGET = Decimal("0.003")  # three demo jobs
    user, raw = key_pair
    statuses = _submit_many([raw] * 8, DEMO)
    assert sorted(statuses) == [201] * 3 + [422] * 5
    assert Job.objects.count() == 3 and spend(user) == Decimal("0.003")
