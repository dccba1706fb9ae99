"""A partner's module runs end to end against a local partner server: the buyer installs the
listing, the workflow partner.<slug> is theirs, a job submitted with their API key is validated by
the listing's schema, run by the worker code in-process, POSTed to the partner signed the Standard
Webhooks way (verified by the partner with the standardwebhooks package), and the partner's answer
is the job's result. Failures retry or fail as every job's do; uninstalling, delisting or
suspending the partner takes the workflow away."""

import json
from decimal import Decimal

import pytest

from jobs.execution import job_run_next
from jobs.models import DailySpend, Job
from marketplace.models import Listing
from marketplace.services.installs import listing_install
from partners.services.policy import policy_version_create
from partners.services.status import partner_status_change
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import api_key_for
from tests.jobs.support import job_make_due
from tests.marketplace.store_support import listing_make
from tests.webhook_receiver import SlowReceiver, received_verifies

JOBS = "/api/v1/jobs"
pytestmark = pytest.mark.django_db


@pytest.fixture
def module(fake_server, key_pair, client_for):
    """A published module whose endpoint is the local partner server, installed by the buyer (whose
    API client is module.api)."""
    listing = listing_make(endpoint=f"{fake_server.url}/run", slug="summarise")
    buyer, raw = key_pair
    listing_install(user=buyer, listing=listing, livemode=True)
    api = client_for(raw)
    api.user = buyer

    class Module:
        pass

    module = Module()
    module.listing, module.api, module.buyer, module.server = listing, api, buyer, fake_server
    return module


def partner_answers(module, *answers):
    """What the partner server answers next: (status, body); a body "verified" is computed by the
    partner checking the request's signature with the listing's secret, as a real partner does."""
    secret = module.listing.secret
    for status, body in answers:
        if body == "verified":
            body = lambda request: {"verified": received_verifies(request, secret),  # noqa: E731
                                    "summary": json.loads(request["body"])["payload"]["text"][:5]}
        module.server.responses.append((status, body))


def submit(api, payload=None, workflow="partner.summarise"):
    return post_json(api, JOBS, {"workflow": workflow, "payload": payload if payload is not None else {"text": "Hello world"}})


def run(capture) -> Job:
    with capture(execute=True):
        job = job_run_next()
    assert job is not None
    return Job.objects.get(pk=job.pk)


def test_an_installed_module_runs_end_to_end(module, django_capture_on_commit_callbacks):
    workflows = module.api.get("/api/v1/workflows").json()["data"]
    mine = next(w for w in workflows if w["name"] == "partner.summarise")
    assert mine["payload_schema"] == module.listing.input_schema
    partner_answers(module, (200, "verified"))

    response = submit(module.api)
    assert response.status_code == 201, response.content
    assert Decimal(response.json()["estimated_cost"]) > 0
    job = run(django_capture_on_commit_callbacks)

    assert job.status == Job.Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.result == {"verified": True, "summary": "Hello"}
    detail = module.api.get(f"{JOBS}/{job.pk}").json()
    assert detail["status"] == "succeeded" and detail["result"] == {"verified": True, "summary": "Hello"}
    (request,) = module.server.requests
    assert request["method"] == "POST" and request["path"] == "/run"
    body = json.loads(request["body"])
    assert body == {"type": "module.run", "job_id": str(job.pk), "attempt": 1, "livemode": True,
                    "listing": {"id": str(module.listing.pk), "slug": "summarise"}, "payload": {"text": "Hello world"}}
    assert request["headers"]["webhook-id"] == f"msg_job_{job.pk}"
    assert request["headers"]["X-Levqor-Job-Id"] == str(job.pk)
    assert not received_verifies(request, "whsec_" + "A" * 44), "only the listing's secret verifies it"


def test_the_listing_schema_validates_the_payload_at_intake(module):
    body = assert_api_error(submit(module.api, {"text": 5}), 400, "invalid_payload")
    assert [e["field"] for e in body["details"]["errors"]] == ["payload.text"]
    body = assert_api_error(submit(module.api, {}), 400, "invalid_payload")
    assert "text" in body["details"]["errors"][0]["message"]
    assert not Job.objects.exists() and module.server.requests == []


def test_a_503_is_retried_and_succeeds_on_the_second_attempt(module, django_capture_on_commit_callbacks):
    partner_answers(module, (503, {"error": "busy"}), (200, "verified"))
    job_id = submit(module.api).json()["id"]
    job = run(django_capture_on_commit_callbacks)
    assert job.status == Job.Status.QUEUED and job.error_code == "upstream_status" and job.attempts == 1
    job_make_due(job)
    job = run(django_capture_on_commit_callbacks)
    assert str(job.pk) == job_id and job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert job.result["verified"] is True
    first, second = module.server.requests
    # The same message id on both attempts: the partner can deduplicate the retry.
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"] == f"msg_job_{job_id}"
    assert [json.loads(r["body"])["attempt"] for r in (first, second)] == [1, 2]


def test_a_400_fails_the_job_at_once(module, django_capture_on_commit_callbacks):
    partner_answers(module, (400, {"error": "text too short"}))
    submit(module.api)
    job = run(django_capture_on_commit_callbacks)
    assert job.status == Job.Status.FAILED and job.attempts == 1
    assert job.error_code == "module_rejected" and "400" in job.error_message
    event = job.events.get(kind="attempt_failed")
    assert event.data["status"] == 400 and "text too short" in event.data["snippet"]
    assert len(module.server.requests) == 1


def test_a_slow_partner_is_cut_at_the_policy_timeout(module, django_capture_on_commit_callbacks):
    policy_version_create(actor=None, reason="Modules answer within a second", webhook_timeout_seconds=1)
    slow = SlowReceiver("late")  # answers after 2.5 s
    try:
        Listing.objects.filter(pk=module.listing.pk).update(endpoint=slow.url)
        submit(module.api)
        job = run(django_capture_on_commit_callbacks)
    finally:
        slow.close()
    assert job.status == Job.Status.QUEUED and job.error_code == "upstream_timeout"
    event = job.events.get(kind="attempt_failed")
    assert 900 <= event.duration_ms < 2400, event.duration_ms
    assert slow.requests == 1


def test_uninstalling_removes_the_workflow(module, django_capture_on_commit_callbacks):
    queued = submit(module.api).json()["id"]
    install_id = module.api.get("/api/v1/marketplace/installs").json()["results"][0]["id"]
    assert module.api.delete(f"/api/v1/marketplace/installs/{install_id}").status_code == 204
    names = [w["name"] for w in module.api.get("/api/v1/workflows").json()["data"]]
    assert "partner.summarise" not in names
    body = assert_api_error(submit(module.api), 400, "unknown_workflow")
    assert "partner.summarise" not in body["details"]["known"]
    # A job queued before the uninstall fails without calling the partner.
    job = run(django_capture_on_commit_callbacks)
    assert str(job.pk) == queued and job.status == Job.Status.FAILED and job.error_code == "unknown_workflow"
    assert module.server.requests == []


@pytest.mark.parametrize("how", ["delisted", "partner_suspended"])
def test_a_delisted_listing_or_suspended_partner_stops_runs(how, module, django_capture_on_commit_callbacks):
    queued = submit(module.api).json()["id"]
    if how == "delisted":
        Listing.objects.filter(pk=module.listing.pk).update(status=Listing.Status.DELISTED)
    else:
        partner_status_change(partner=module.listing.partner, action="suspend", actor=None, reason="Test")
    assert_api_error(submit(module.api), 400, "unknown_workflow")
    assert "partner.summarise" not in [w["name"] for w in module.api.get("/api/v1/workflows").json()["data"]]
    job = run(django_capture_on_commit_callbacks)
    assert str(job.pk) == queued and job.status == Job.Status.FAILED and job.error_code == "unknown_workflow"
    assert module.server.requests == []


def test_another_account_cannot_run_the_buyers_module(module, client_for):
    _, other_raw = api_key_for()
    assert_api_error(submit(client_for(other_raw)), 400, "unknown_workflow")
    # The buyer's own test-mode key neither: the install is live.
    _, test_raw = api_key_for(module.buyer, livemode=False)
    assert_api_error(submit(client_for(test_raw)), 400, "unknown_workflow")
    assert not Job.objects.exists()


def test_a_test_mode_install_runs_with_livemode_false(module, client_for, django_capture_on_commit_callbacks):
    listing_install(user=module.buyer, listing=module.listing, livemode=False)
    _, test_raw = api_key_for(module.buyer, livemode=False)
    partner_answers(module, (200, {"ok": True}))
    assert submit(client_for(test_raw)).status_code == 201
    job = run(django_capture_on_commit_callbacks)
    assert job.status == Job.Status.SUCCEEDED and job.livemode is False and job.result == {"ok": True}
    assert json.loads(module.server.requests[0]["body"])["livemode"] is False


def test_module_runs_reserve_their_cost_against_the_budget(module, settings):
    settings.MARKETPLACE_MODULE_RUN_COST = Decimal("0.05")
    settings.DAILY_BUDGET = Decimal("0.08")
    first = submit(module.api)
    assert first.status_code == 201 and Decimal(first.json()["estimated_cost"]) == Decimal("0.05")
    body = assert_api_error(submit(module.api), 422, "cost_limit_exceeded")
    assert Decimal(body["details"]["estimated_cost"]) == Decimal("0.05")
    assert sum(DailySpend.objects.filter(owner=module.buyer).values_list("amount", flat=True)) == Decimal("0.05")
    settings.JOB_COST_LIMIT = Decimal("0.01")  # over the per-job limit as well
    assert_api_error(submit(module.api), 422, "cost_limit_exceeded")
    assert Job.objects.count() == 1
