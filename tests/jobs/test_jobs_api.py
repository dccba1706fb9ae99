"""The jobs API from a client's side: who sees which job, listing, the old status contract,
authentication, and cancel/retry."""

import base64
import uuid
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils import timezone
from rest_framework import exceptions

from jobs.execution import job_claim, job_run_next
from jobs.models import DailySpend, Job
from levqor.http_errors import api_exception_handler
from levqor.webhooks.delivery import signing_secret_for
from tests.api_asserts import assert_api_error, error_fields
from tests.conftest import post_json
from tests.factories import ApiKeyFactory, JobFactory, UserFactory, api_key_for

pytestmark = pytest.mark.django_db

DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}
# llm.chat with no provider configured (the test settings) fails at once, permanently.
FAILING = {"workflow": "llm.chat", "payload": {"messages": [{"role": "user", "content": "hi"}]}}


def submit(client, body=DEMO) -> str:
    response = post_json(client, "/api/v1/jobs", body)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def spend(user, livemode=True) -> Decimal:
    return sum(DailySpend.objects.filter(owner=user, livemode=livemode).values_list("amount", flat=True), Decimal(0))


def job_paths(job_id):
    return [("get", f"/api/v1/jobs/{job_id}"), ("get", f"/api/v1/status/{job_id}"),
            ("post", f"/api/v1/jobs/{job_id}/cancel"), ("post", f"/api/v1/jobs/{job_id}/retry")]


def call(client, method, path):
    return client.get(path) if method == "get" else client.post(path)


def assert_404(response, job_id, path):
    legacy = "/status/" in path
    body = assert_api_error(response, 404, "not_found", extra_keys=frozenset({"job_id"} if legacy else ()))
    assert body["details"] == {"job_id": str(job_id)}
    if legacy:  # the old contract kept job_id at the top level
        assert body["job_id"] == str(job_id)


# --- who sees what ------------------------------------------------------------------------------

@pytest.mark.parametrize("index", range(4), ids=["detail", "legacy_status", "cancel", "retry"])
def test_another_owners_job_is_404_everywhere(api, index):
    job = JobFactory(status=Job.Status.FAILED)
    method, path = job_paths(job.pk)[index]
    assert_404(call(api, method, path), job.pk, path)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED  # neither cancelled nor retried


@pytest.mark.parametrize("index", range(4), ids=["detail", "legacy_status", "cancel", "retry"])
def test_a_job_that_does_not_exist_looks_the_same(api, index):
    job_id = uuid.uuid4()
    method, path = job_paths(job_id)[index]
    assert_404(call(api, method, path), job_id, path)


def test_the_owner_sees_their_job(api):
    job_id = submit(api)
    detail = api.get(f"/api/v1/jobs/{job_id}")
    assert detail.status_code == 200 and detail.json()["id"] == job_id
    assert [e["kind"] for e in detail.json()["events"]] == ["created"]
    assert api.get(f"/api/v1/status/{job_id}").status_code == 200


def test_test_keys_see_only_test_jobs_and_live_keys_only_live_ones(api, client_for):
    _, test_raw = api_key_for(api.user, livemode=False)
    test_client = client_for(test_raw)
    live_id, test_id = submit(api), submit(test_client)
    assert Job.objects.get(pk=live_id).livemode is True and Job.objects.get(pk=test_id).livemode is False
    assert post_json(test_client, "/api/v1/intake", DEMO).status_code == 202
    test_ids = {j["id"] for j in test_client.get("/api/v1/jobs").json()["results"]}
    assert live_id not in test_ids and test_id in test_ids and len(test_ids) == 2
    assert [j["id"] for j in api.get("/api/v1/jobs").json()["results"]] == [live_id]
    for method, path in job_paths(live_id):
        assert_404(call(test_client, method, path), live_id, path)
    for method, path in job_paths(test_id):
        assert_404(call(api, method, path), test_id, path)


# --- listing ------------------------------------------------------------------------------------

def test_list_is_newest_first_and_filtered_by_status_and_workflow(api):
    now = timezone.now()
    owner = api.user
    a = JobFactory(owner=owner, created_at=now - timedelta(minutes=3))
    b = JobFactory(owner=owner, status=Job.Status.FAILED, created_at=now - timedelta(minutes=2))
    c = JobFactory(owner=owner, workflow="http.request", created_at=now - timedelta(minutes=1))
    JobFactory()  # someone else's
    JobFactory(owner=owner, livemode=False)  # mine, but test mode

    def ids(query=""):
        response = api.get(f"/api/v1/jobs{query}")
        assert response.status_code == 200, response.content
        return [j["id"] for j in response.json()["results"]]

    assert ids() == [str(c.pk), str(b.pk), str(a.pk)]
    assert ids("?status=queued") == [str(c.pk), str(a.pk)]
    assert ids("?status=failed") == [str(b.pk)]
    assert ids("?status=succeeded") == []
    assert ids("?workflow=demo.flow") == [str(b.pk), str(a.pk)]
    assert ids("?workflow=http.request&status=queued") == [str(c.pk)]
    assert ids("?workflow=no.such") == []


def test_list_items_are_jobs(api):
    job_id = submit(api)
    item = api.get("/api/v1/jobs").json()["results"][0]
    detail = api.get(f"/api/v1/jobs/{job_id}").json()
    assert detail.pop("events")
    assert item == detail and item["object"] == "job" and item["id"] == job_id


@pytest.mark.parametrize("status", ["done", "QUEUED", "queued,failed"])
def test_list_refuses_an_unknown_status(api, status):
    body = assert_api_error(api.get("/api/v1/jobs", {"status": status}), 400, "validation_failed")
    assert body["details"] == {"field": "status"}


def _walk(client, url, *, limit_seen):
    """Follow `next` links to the end; return the ids in order and the page sizes."""
    ids, sizes = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        assert set(page) == {"next", "previous", "results"}
        ids += [j["id"] for j in page["results"]]
        sizes.append(len(page["results"]))
        url = page["next"] and urlsplit(page["next"])._replace(scheme="", netloc="").geturl()
        assert len(sizes) <= limit_seen, "pagination does not end"
    return ids, sizes


def test_list_is_cursor_paginated(api):
    now = timezone.now()
    jobs = [JobFactory(owner=api.user, created_at=now - timedelta(seconds=i)) for i in range(7)]
    ids, sizes = _walk(api, "/api/v1/jobs?limit=3", limit_seen=5)
    assert sizes == [3, 3, 1]
    assert ids == [str(j.pk) for j in jobs]  # newest first, each once
    second = api.get(api.get("/api/v1/jobs?limit=3").json()["next"])
    assert second.json()["previous"]


def test_pagination_loses_no_job_when_many_share_a_timestamp(api):
    # Jobs accepted in one burst can share created_at to the microsecond.
    same = timezone.now()
    jobs = Job.objects.bulk_create(JobFactory.build(owner=api.user, created_at=same) for _ in range(9))
    ids, _ = _walk(api, "/api/v1/jobs?limit=4", limit_seen=5)
    assert sorted(ids) == sorted(str(j.pk) for j in jobs) and len(ids) == 9


def test_list_with_status_filter_paginates_within_the_filter(api):
    now = timezone.now()
    failed = [JobFactory(owner=api.user, status=Job.Status.FAILED, created_at=now - timedelta(seconds=2 * i))
              for i in range(5)]
    for i in range(5):
        JobFactory(owner=api.user, created_at=now - timedelta(seconds=2 * i + 1))
    ids, sizes = _walk(api, "/api/v1/jobs?status=failed&limit=2", limit_seen=4)
    assert ids == [str(j.pk) for j in failed] and sizes == [2, 2, 1]


def test_limit_is_capped_at_100(api):
    Job.objects.bulk_create(JobFactory.build(owner=api.user) for _ in range(101))
    page = api.get("/api/v1/jobs?limit=1000").json()
    assert len(page["results"]) == 100 and page["next"]
    assert len(api.get("/api/v1/jobs").json()["results"]) == 50  # the default page


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("cursor", [
    "not-a-cursor", "garbage", _b64("o=-1"), _b64("r=x"),
    # Decodes, but its position is no time: it must not reach the query (that was a 500).
    _b64("p=garbage"), _b64(urlencode({"p": "2025-13-45 00:00:00+00:00"})), _b64("p=2025-01-01 00:00:00"),
])
def test_a_forged_cursor_is_a_bad_parameter(api, cursor):
    JobFactory(owner=api.user)
    body = assert_api_error(api.get("/api/v1/jobs", {"cursor": cursor}), 400, "validation_failed")
    assert error_fields(body) == ["cursor"]


def test_a_cursor_as_handed_out_still_pages(api):
    now = timezone.now()
    jobs = [JobFactory(owner=api.user, created_at=now - timedelta(seconds=i)) for i in range(3)]
    first = api.get("/api/v1/jobs?limit=2").json()
    cursor = parse_qs(urlsplit(first["next"]).query)["cursor"][0]
    second = api.get("/api/v1/jobs", {"cursor": cursor, "limit": 2})
    assert second.status_code == 200
    assert [j["id"] for j in second.json()["results"]] == [str(jobs[2].pk)]


# --- the old status contract ------------------------------------------------------------------------

def test_legacy_status_has_exactly_the_old_fields(api):
    job_id = post_json(api, "/api/v1/intake", DEMO).json()["job_id"]
    queued = api.get(f"/api/v1/status/{job_id}")
    assert queued.status_code == 200
    body = queued.json()
    assert body == {"job_id": job_id, "status": "queued", "created_at": body["created_at"], "result": None,
                    "error": None}
    assert body["created_at"].endswith("Z")

    job_run_next()
    done = api.get(f"/api/v1/status/{job_id}").json()
    assert set(done) == {"job_id", "status", "created_at", "result", "error"}
    assert (done["status"], done["result"], done["error"]) == ("succeeded", {"echo": {"hello": "world"}}, None)


def test_legacy_status_of_a_failed_job_has_its_error(api):
    job_id = submit(api, FAILING)
    job_run_next()
    body = api.get(f"/api/v1/status/{job_id}").json()
    assert body["status"] == "failed" and body["result"] is None
    assert body["error"]["code"] == "provider_not_configured" and body["error"]["message"]


# --- authentication ---------------------------------------------------------------------------------

def _every_endpoint():
    """Each (method, path), named with "{job_id}" for the made-up id: test ids are the same in
    every process that collects them (pytest-xdist's workers each collect, and must agree)."""
    job_id = uuid.uuid4()
    return [pytest.param(method, path, id=f"{method}-{path.replace(str(job_id), '{job_id}')}")
            for method, path in [("get", "/api/v1/jobs"), ("post", "/api/v1/jobs"), ("post", "/api/v1/intake"),
                                 ("get", "/api/v1/workflows"), ("get", "/api/v1/webhooks/secret"), *job_paths(job_id)]]


@pytest.mark.parametrize(("method", "path"), _every_endpoint())
def test_no_key_is_401_not_authenticated(client, method, path):
    response = client.generic(method.upper(), path, b"{", content_type="application/json")
    assert_api_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Job.objects.exists()


def _bad_keys(user):
    revoked = ApiKeyFactory(owner=user, revoked=True)
    expired = ApiKeyFactory(owner=user, expires_at=timezone.now() - timedelta(seconds=1))
    inactive_owner = UserFactory(is_active=False)
    return {
        "unknown": "lvk_live_" + "0" * 32,
        "unknown_test": "lvk_test_" + "f" * 32,
        "wrong_prefix": "sk_live_" + "0" * 32,
        "truncated": ApiKeyFactory(owner=user).raw_key[:-1],
        "revoked": revoked.raw_key,
        "expired": expired.raw_key,
        "owner_deactivated": ApiKeyFactory(owner=inactive_owner).raw_key,
        "absurdly_long": "lvk_live_" + "a" * 5000,
    }


@pytest.mark.parametrize("kind", ["unknown", "unknown_test", "wrong_prefix", "truncated", "revoked", "expired",
                                  "owner_deactivated", "absurdly_long"])
@pytest.mark.parametrize("header", ["X-Api-Key", "Bearer"])
def test_bad_keys_are_401_invalid_api_key(user, client_for, kind, header):
    raw = _bad_keys(user)[kind]
    client = client_for(raw, header=header)
    assert_api_error(post_json(client, "/api/v1/intake", DEMO), 401, "invalid_api_key")
    assert_api_error(client.get("/api/v1/jobs"), 401, "invalid_api_key")
    assert not Job.objects.exists()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_authorization_bearer_works(key_pair, client, scheme):
    user, raw = key_pair
    response = post_json(client, "/api/v1/intake", DEMO, HTTP_AUTHORIZATION=f"{scheme} {raw}")
    assert response.status_code == 202, response.content
    assert Job.objects.get().owner == user


def test_other_authorization_schemes_are_not_keys(key_pair, client):
    _, raw = key_pair
    assert_api_error(client.get("/api/v1/jobs", HTTP_AUTHORIZATION=f"Basic {raw}"), 401, "not_authenticated")


def test_the_key_is_checked_before_the_body(client):
    # The old order: key first, then content type and JSON.
    response = client.generic("POST", "/api/v1/intake", b"not json", content_type="text/plain",
                              HTTP_X_API_KEY="lvk_live_" + "0" * 32)
    assert_api_error(response, 401, "invalid_api_key")


def test_a_job_remembers_the_key_that_submitted_it(api):
    job = Job.objects.get(pk=submit(api))
    assert job.api_key is not None and job.api_key.owner == api.user


# --- cancel ---------------------------------------------------------------------------------------------

def test_cancel_a_queued_job_at_once_and_refund_its_reservation(api):
    job_id = submit(api)
    assert spend(api.user) == Decimal("0.001")
    response = api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["finished_at"] and body["cancel_requested_at"]
    assert body["error"]["code"] == "cancelled"
    events = api.get(f"/api/v1/jobs/{job_id}").json()["events"]
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in events] == [
        ("created", "", "queued"), ("cancelled", "queued", "cancelled")]
    assert spend(api.user) == 0
    assert job_run_next() is None  # nothing left to run


def test_cancel_a_running_job_asks_it_to_stop(api):
    job_id = submit(api)
    assert job_claim().pk == uuid.UUID(job_id)
    first = api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert first.status_code == 200
    assert first.json()["status"] == "running" and first.json()["cancel_requested_at"]
    again = api.post(f"/api/v1/jobs/{job_id}/cancel")  # asking twice is harmless
    assert again.status_code == 200 and again.json()["cancel_requested_at"] == first.json()["cancel_requested_at"]
    kinds = [e["kind"] for e in api.get(f"/api/v1/jobs/{job_id}").json()["events"]]
    assert kinds == ["created", "started", "cancel_requested"]


@pytest.mark.parametrize("status", [Job.Status.SUCCEEDED, Job.Status.FAILED, Job.Status.CANCELLED])
def test_a_finished_job_cannot_be_cancelled(api, status):
    job = JobFactory(owner=api.user, status=status, finished_at=timezone.now())
    body = assert_api_error(api.post(f"/api/v1/jobs/{job.pk}/cancel"), 409, "job_not_cancellable")
    assert body["details"] == {"status": status}
    job.refresh_from_db()
    assert job.status == status and job.events.count() == 0


def test_cancel_after_the_job_really_ran(api):
    job_id = submit(api)
    job_run_next()
    assert_api_error(api.post(f"/api/v1/jobs/{job_id}/cancel"), 409, "job_not_cancellable")
    assert spend(api.user) == Decimal("0.001")  # what it cost stays spent


# --- retry ----------------------------------------------------------------------------------------------

def test_retry_a_failed_job_queues_it_with_fresh_attempts(api):
    job_id = submit(api, FAILING)
    job_run_next()
    failed = api.get(f"/api/v1/jobs/{job_id}").json()
    assert failed["status"] == "failed" and failed["attempts"] == 1
    assert spend(api.user) == 0  # a job that failed without using the provider cost nothing

    response = api.post(f"/api/v1/jobs/{job_id}/retry")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["error"] is None and body["finished_at"] is None
    assert body["attempts"] == 1 and body["max_attempts"] == 1 + 3  # three more tries
    assert spend(api.user) == Decimal(failed["estimated_cost"])  # reserved again
    events = api.get(f"/api/v1/jobs/{job_id}").json()["events"]
    assert (events[-1]["kind"], events[-1]["from_status"], events[-1]["to_status"]) == ("retried", "failed", "queued")

    assert str(job_run_next().pk) == job_id  # and a worker really runs it again
    assert api.get(f"/api/v1/jobs/{job_id}").json()["attempts"] == 2


def test_retry_a_cancelled_job_runs_it(api):
    job_id = submit(api)
    api.post(f"/api/v1/jobs/{job_id}/cancel")
    assert api.post(f"/api/v1/jobs/{job_id}/retry").status_code == 202
    job_run_next()
    assert api.get(f"/api/v1/status/{job_id}").json()["status"] == "succeeded"
    assert spend(api.user) == Decimal("0.001")


@pytest.mark.parametrize("status", [Job.Status.QUEUED, Job.Status.RUNNING, Job.Status.SUCCEEDED])
def test_only_failed_or_cancelled_jobs_can_be_retried(api, status):
    job = JobFactory(owner=api.user, status=status)
    body = assert_api_error(api.post(f"/api/v1/jobs/{job.pk}/retry"), 409, "job_not_retryable")
    assert body["details"] == {"status": status}
    job.refresh_from_db()
    assert job.status == status and job.events.count() == 0
    assert spend(api.user) == 0


def test_a_succeeded_job_says_not_retryable_even_when_the_budget_is_spent(api, settings):
    settings.DAILY_BUDGET = Decimal("0.001")
    job_id = submit(api)
    job_run_next()
    assert_api_error(api.post(f"/api/v1/jobs/{job_id}/retry"), 409, "job_not_retryable")


def test_a_retry_over_the_budget_is_refused_and_the_job_stays_failed(api, settings):
    job_id = submit(api, FAILING)
    job_run_next()
    settings.DAILY_BUDGET = Decimal("0.00001")
    body = assert_api_error(api.post(f"/api/v1/jobs/{job_id}/retry"), 422, "cost_limit_exceeded")
    assert set(body["details"]) == {"estimated_cost", "spent_today", "daily_budget"}
    assert api.get(f"/api/v1/status/{job_id}").json()["status"] == "failed"
    assert spend(api.user) == 0


# --- the rest of the error shape ---------------------------------------------------------------------------

def test_wrong_method_has_the_error_shape(api):
    assert_api_error(api.get("/api/v1/intake"), 405, "method_not_allowed")
    assert_api_error(api.delete("/api/v1/jobs"), 405, "method_not_allowed")


def test_unknown_api_path_has_the_error_shape(api):
    assert_api_error(api.get("/api/v1/jobs/not-a-uuid"), 404, "not_found")


def test_webhook_secret_is_the_owners(api):
    body = api.get("/api/v1/webhooks/secret").json()
    assert body["secret"] == signing_secret_for(owner=api.user).secret
    assert api.get("/api/v1/webhooks/secret").json()["secret"] == body["secret"]  # the same each time


@pytest.mark.parametrize(("exc", "status", "code"), [
    pytest.param(Http404("No Job matches the given query."), 404, "not_found", id="django_404"),
    pytest.param(DjangoPermissionDenied("secret rule 7"), 403, "permission_denied", id="django_403"),
    pytest.param(exceptions.Throttled(wait=7), 429, "rate_limited", id="throttled"),
    pytest.param(exceptions.ValidationError({"name": ["required"]}), 400, "validation_failed", id="drf_validation"),
    pytest.param(KeyError("internal detail"), 500, "internal_error", id="crash"),
])
def test_every_exception_a_view_raises_answers_in_the_one_shape(exc, status, code):
    response = api_exception_handler(exc, {})
    assert response.status_code == status
    assert set(response.data) == {"error", "message", "details", "correlation_id"}
    assert response.data["error"] == code
    # Nothing internal reaches the client: no model names, no exception text, no traceback.
    assert not {"Job", "secret", "internal", "Traceback"} & set(str(response.data).replace("'", " ").split())
    if code == "rate_limited":
        assert response["Retry-After"] == "7"
    if code == "validation_failed":
        assert response.data["details"] == {"name": ["required"]}


def test_cancel_and_retry_mark_the_job_changed(api, clock):
    # updated_at is what the dashboard's refresher compares; update() alone would leave it behind.
    job = JobFactory(owner=api.user)
    clock.advance(60)
    cancelled_at = timezone.now()
    assert api.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 200
    job.refresh_from_db()
    assert job.updated_at >= cancelled_at
    clock.advance(60)
    retried_at = timezone.now()
    assert api.post(f"/api/v1/jobs/{job.pk}/retry").status_code == 202
    job.refresh_from_db()
    assert job.status == "queued" and job.updated_at >= retried_at
