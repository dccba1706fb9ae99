"""Idempotency-Key on job intake, with Stripe's semantics: the same key and body replay the first
answer; the same key with another body is a 422; a key still in flight is a 409."""

import json
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from jobs.execution import job_run_next
from jobs.models import DailySpend, IdempotencyRecord, Job
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import api_key_for

JOBS, INTAKE = "/api/v1/jobs", "/api/v1/intake"
BODY = {"workflow": "demo.flow", "payload": {"order": 42}}


def post(client, path, body=BODY, key="order-42"):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return post_json(client, path, body, **extra)


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "status"), [(JOBS, 201), (INTAKE, 202)])
def test_same_key_same_body_replays_the_first_answer(api, path, status):
    first = post(api, path)
    assert first.status_code == status, first.content
    assert "Idempotent-Replayed" not in first

    again = post(api, path)
    assert again.status_code == status
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert Job.objects.count() == 1
    job = Job.objects.get()
    assert first["Location"] == f"/api/v1/jobs/{job.pk}" and job.idempotency_key == "order-42"
    # The replay reserved nothing more.
    assert DailySpend.objects.get(owner=api.user).amount == Decimal("0.001")


@pytest.mark.django_db
def test_replay_is_the_first_answer_even_after_the_job_ran(api):
    first = post(api, JOBS)
    assert job_run_next() is not None
    again = post(api, JOBS)
    assert again.json() == first.json() and again.json()["status"] == "queued"
    assert api.get(first["Location"]).json()["status"] == "succeeded"


@pytest.mark.django_db
@pytest.mark.parametrize("path", [JOBS, INTAKE])
def test_same_key_other_body_is_422(api, path):
    assert post(api, path).status_code in (201, 202)
    body = assert_api_error(post(api, path, {**BODY, "payload": {"order": 43}}), 422, "idempotency_key_reused")
    assert body["details"] == {"idempotency_key": "order-42"}
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_same_key_on_the_other_endpoint_is_another_request(api):
    assert post(api, JOBS).status_code == 201
    assert_api_error(post(api, INTAKE), 422, "idempotency_key_reused")
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_owner(api, client_for):
    _, other_raw = api_key_for()
    other = client_for(other_raw)
    mine, theirs = post(api, JOBS), post(other, JOBS)
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert Job.objects.count() == 2
    assert Job.objects.get(pk=theirs.json()["id"]).owner != api.user


@pytest.mark.django_db
def test_keys_are_per_mode(api, client_for):
    _, test_raw = api_key_for(api.user, livemode=False)
    live, test = post(api, JOBS), post(client_for(test_raw), JOBS)
    assert live.status_code == test.status_code == 201
    assert (live.json()["livemode"], test.json()["livemode"]) == (True, False)
    assert live.json()["id"] != test.json()["id"]


@pytest.mark.django_db
@pytest.mark.parametrize("refused", [
    pytest.param({"workflow": "demo.flow"}, id="invalid"),
    pytest.param({"workflow": "no.such.flow", "payload": {}}, id="unknown_workflow"),
    pytest.param({"workflow": "llm.chat", "payload": {"messages": [{"role": "user", "content": "hi"}],
                                                      "max_tokens": 32000}}, id="cost_limit"),
])
def test_a_refused_request_does_not_use_up_the_key(api, settings, refused):
    settings.JOB_COST_LIMIT = Decimal("0.01")
    assert post(api, JOBS, refused).status_code in (400, 422)
    assert not IdempotencyRecord.objects.exists()
    # The client fixes the request and sends it again with the same key: it is accepted...
    accepted = post(api, JOBS)
    assert accepted.status_code == 201, accepted.content
    assert "Idempotent-Replayed" not in accepted
    # ...and from then on the key belongs to that request.
    assert post(api, JOBS)["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_a_key_in_flight_is_409(api):
    IdempotencyRecord.objects.create(owner=api.user, livemode=True, key="order-42", endpoint="jobs",
                                     request_hash=_fingerprint("jobs", BODY))
    body = assert_api_error(post(api, JOBS), 409, "idempotency_in_flight")
    assert body["details"] == {"idempotency_key": "order-42"}
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_key_past_its_24_hours_can_be_used_again(api):
    first = post(api, JOBS)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    second = post(api, JOBS)
    assert second.status_code == 201, second.content
    assert "Idempotent-Replayed" not in second
    assert second.json()["id"] != first.json()["id"]
    assert post(api, JOBS).json()["id"] == second.json()["id"]  # the key now replays the new answer
    assert Job.objects.count() == 2 and IdempotencyRecord.objects.count() == 1


@pytest.mark.django_db
def test_a_key_within_its_24_hours_still_replays(api):
    first = post(api, JOBS)
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))
    assert post(api, JOBS).json()["id"] == first.json()["id"]


@pytest.mark.django_db
def test_a_key_over_255_characters_is_refused(api):
    body = assert_api_error(post(api, JOBS, key="k" * 256), 400, "invalid_idempotency_key")
    assert body["details"] == {}
    assert not Job.objects.exists()
    assert post(api, JOBS, key="k" * 255).status_code == 201


@pytest.mark.django_db
def test_without_a_key_every_request_is_a_new_job(api):
    assert post(api, JOBS, key=None).json()["id"] != post(api, JOBS, key=None).json()["id"]
    assert post(api, JOBS, key="  ").status_code == 201  # a blank key is no key
    assert Job.objects.count() == 3 and not IdempotencyRecord.objects.exists()


def _fingerprint(endpoint, body):
    from jobs.services import request_fingerprint

    return request_fingerprint(endpoint=endpoint, body=json.dumps(body).encode())


def _race(clients, path, body, key):
    """Send the same request from one thread per client at once; return the responses."""
    barrier = threading.Barrier(len(clients))
    responses = [None] * len(clients)
    errors = []

    def send(i, client):
        try:
            barrier.wait(timeout=10)
            responses[i] = post(client, path, body, key=key)
        except Exception as exc:  # surfaced below, with the thread's error
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return responses


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", [JOBS, INTAKE])
def test_concurrent_twins_make_one_job_and_get_the_same_answer_postgres(key_pair, client_for, path):
    _, raw = key_pair
    for round_ in range(5):
        key = f"race-{round_}"
        responses = _race([client_for(raw) for _ in range(4)], path, BODY, key)
        assert {r.status_code for r in responses} == {201 if path == JOBS else 202}, [r.content for r in responses]
        assert len({json.dumps(r.json(), sort_keys=True) for r in responses}) == 1
        assert sum(1 for r in responses if r.get("Idempotent-Replayed") != "true") == 1
        assert Job.objects.filter(idempotency_key=key).count() == 1
    assert Job.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_concurrent_twins_make_one_job(key_pair, client_for):
    # The same race on whichever database the suite runs on (SQLite serialises writers).
    _, raw = key_pair
    responses = _race([client_for(raw) for _ in range(3)], JOBS, BODY, "race")
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert Job.objects.count() == 1
