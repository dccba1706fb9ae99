"""Callbacks: a finished job is POSTed to its callback_url through the webhook engine, signed the
Standard Webhooks way with the owner's account signing secret, retried by the engine's schedule,
and every attempt is recorded. The receiver is a real HTTP server (the fake_server fixture); we
assert on what it received."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule

from jobs.execution import job_reap, job_run_next
from jobs.models import Job
from jobs.services import job_cancel
from levqor.webhooks.delivery import DELIVER_TASK, MAX_ATTEMPTS, signing_secret_for
from levqor.webhooks.models import WebhookDelivery
from levqor.webhooks.signing import webhook_secret_generate
from levqor.webhooks.tasks import webhook_deliver
from tests.jobs.support import job_submit, schedules_fire, tasks_drain
from tests.webhook_receiver import received_verifies as _verifies

pytestmark = pytest.mark.django_db


def _secret(owner) -> str:
    """The secret a receiver holds: what GET /api/v1/webhooks/secret answers."""
    return signing_secret_for(owner=owner).secret


def _delivery(job) -> WebhookDelivery:
    return WebhookDelivery.objects.get(source=f"jobs.job:{job.pk}")


def _deliver(job):
    return webhook_deliver(str(_delivery(job).pk))



def test_a_finished_job_is_posted_signed_to_its_callback_url(api, fake_server, django_capture_on_commit_callbacks):
    owner = api.user
    job = job_submit(owner, payload={"hello": "world"}, callback_url=fake_server.url + "/hooks/levqor?x=1")
    get_broker().purge_queue()  # the job is run here, not by its run token
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    ran = tasks_drain()  # the callback task django-q2 was given, run as a worker would
    assert [func for func, _, _ in ran] == [DELIVER_TASK]

    assert len(fake_server.requests) == 1
    request = fake_server.requests[0]
    assert (request["method"], request["path"]) == ("POST", "/hooks/levqor?x=1")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert _verifies(request, _secret(owner))
    # Anyone else's secret, or a body changed on the way, does not verify.
    assert not _verifies(request, webhook_secret_generate())
    assert not _verifies({**request, "body": request["body"].replace(b"world", b"w0rld")}, _secret(owner))

    body = json.loads(request["body"])
    assert body["type"] == "job.succeeded"
    assert body["id"] == headers["webhook-id"] and body["timestamp"].endswith("Z")
    # The body is the job as the API shows it.
    shown = api.get(f"/api/v1/jobs/{job.pk}").json()
    assert {k: v for k, v in body["data"].items() if k != "callback_status"} == {
        key: shown[key] for key in body["data"] if key != "callback_status"}
    assert body["data"]["callback_status"] == "pending"  # as it was while being sent
    assert (body["data"]["id"], body["data"]["status"], body["data"]["result"]) == (
        str(job.pk), "succeeded", {"echo": {"hello": "world"}})

    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts, job.callback_next_at) == ("delivered", 1, None)
    delivery = _delivery(job)
    [attempt] = delivery.attempt_rows.all()
    assert (attempt.number, attempt.status_code, attempt.succeeded, delivery.msg_id) == (
        1, 200, True, headers["webhook-id"])
    event = job.events.get(kind="callback_attempt")
    assert (event.data["status_code"], event.data["outcome"]) == (200, "delivered")

    # A duplicated task does not send it again.
    assert webhook_deliver(str(delivery.pk)) is None
    assert len(fake_server.requests) == 1


@pytest.mark.django_db(transaction=True)  # the retry goes through django-q2's scheduler
def test_a_failed_delivery_is_retried_on_a_schedule_and_every_attempt_is_recorded(user, fake_server, clock):
    fake_server.responses = [(500, {"error": "down"}), (200, {"ok": True})]
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    tasks_drain()  # runs the job, then the first delivery
    job.refresh_from_db()
    failed_at = job.events.get(kind="callback_attempt").at
    assert (job.status, job.callback_status, job.callback_attempts) == ("succeeded", "pending", 1)
    # The engine's schedule: the second attempt 5 s after the first failed, as a django-q2 ONCE schedule.
    wait = (job.callback_next_at - failed_at).total_seconds()
    assert 5 <= wait <= 6, wait
    delivery = _delivery(job)
    schedule = Schedule.objects.get(func=DELIVER_TASK)
    assert (schedule.schedule_type, schedule.next_run) == (Schedule.ONCE, job.callback_next_at)

    clock.advance(wait)
    schedules_fire()
    ran = tasks_drain()
    assert (DELIVER_TASK, (str(delivery.pk),), "delivered") in ran

    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts, job.callback_next_at) == ("delivered", 2, None)
    attempts = list(delivery.attempt_rows.order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [(1, 500, False), (2, 200, True)]
    assert "500" in attempts[0].error and '"down"' in attempts[0].response_snippet
    assert [e.data["outcome"] for e in job.events.filter(kind="callback_attempt").order_by("at", "id")] == [
        "pending", "delivered"]
    # Both attempts carry the same message id and body (receivers dedupe on it) and both verify.
    assert len(fake_server.requests) == 2
    assert {r["headers"]["webhook-id"] for r in fake_server.requests} == {delivery.msg_id}
    assert fake_server.requests[0]["body"] == fake_server.requests[1]["body"]
    assert all(_verifies(r, _secret(user)) for r in fake_server.requests)


def test_delivery_gives_up_after_the_engine_s_eight_attempts(user, fake_server, clock,
                                                              django_capture_on_commit_callbacks):
    fake_server.responses = [(500, {})] * 10
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    states = []
    for _ in range(MAX_ATTEMPTS):
        states.append(_deliver(job))
        clock.advance(11 * 3600)
    assert states == ["pending"] * 7 + ["failed"]
    assert _deliver(job) is None
    assert len(fake_server.requests) == 8
    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts, job.callback_next_at) == ("failed", 8, None)
    assert _delivery(job).attempt_rows.filter(succeeded=False).count() == 8


def test_an_unreachable_receiver_is_retried(user, closed_port, django_capture_on_commit_callbacks):
    job = job_submit(user, callback_url=f"http://127.0.0.1:{closed_port}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    assert _deliver(job) == "pending"
    [attempt] = _delivery(job).attempt_rows.all()
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert "ConnectError" in attempt.error


@pytest.mark.parametrize("target", ["fake", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook"])
def test_a_callback_to_a_private_address_fails_at_once_and_nothing_is_sent(
        target, user, fake_server, settings_outbound_strict, django_capture_on_commit_callbacks):
    url = fake_server.url + "/hook" if target == "fake" else target
    job = job_submit(user, callback_url=url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_run_next()
    assert callbacks, "the delivery was handed to django-q2"
    started = time.monotonic()
    assert _deliver(job) == "failed"
    assert time.monotonic() - started < 2, "refused before any connection attempt"
    assert fake_server.requests == []
    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts) == ("failed", 1)
    [attempt] = _delivery(job).attempt_rows.all()
    assert (attempt.status_code, attempt.succeeded) == (None, False)
    assert "private" in attempt.error
    assert not Schedule.objects.filter(func=DELIVER_TASK).exists()


def test_a_cancelled_job_is_called_back_too(user, fake_server, django_capture_on_commit_callbacks):
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=job)
    tasks_drain()
    assert [json.loads(r["body"])["type"] for r in fake_server.requests] == ["job.cancelled"]
    assert _verifies(fake_server.requests[0], _secret(user))


def test_the_reaper_hands_over_a_callback_whose_hand_over_was_lost(user, fake_server):
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    get_broker().purge_queue()
    job_run_next()  # in the test's transaction: the hand-over after the commit never runs, as if lost
    job.refresh_from_db()
    assert job.callback_status == "pending"
    assert not WebhookDelivery.objects.exists()
    assert job_reap()["callbacks"] == 0, "not yet: it may still be on its way"
    Job.objects.filter(pk=job.pk).update(callback_next_at=timezone.now() - timedelta(minutes=3))
    assert job_reap()["callbacks"] == 1
    assert job_reap()["callbacks"] == 1  # once-only: a second hand-over finds the same delivery
    assert WebhookDelivery.objects.count() == 1
    _deliver(job)
    job.refresh_from_db()
    assert job.callback_status == "delivered"
    assert len(fake_server.requests) == 1


def test_a_callback_host_whose_dns_changes_to_loopback_gets_nothing(user, fake_server, settings_outbound_strict,
                                                                    dns_rebinding, django_capture_on_commit_callbacks):
    """The host is looked up once per attempt and the connection goes to the address checked (public
    here, and out of this sandbox's reach): a later answer of loopback is never used."""
    job = job_submit(user, callback_url=f"http://{dns_rebinding}:{fake_server.url.rsplit(':', 1)[1]}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    assert _deliver(job) == "pending"  # a failed attempt at the public address, retried on the schedule
    assert fake_server.requests == []


def test_a_job_s_outcome_reaches_the_account_endpoints_subscribed(user, fake_server,
                                                                   django_capture_on_commit_callbacks):
    from levqor.webhooks.endpoints import webhook_endpoint_create

    endpoint = webhook_endpoint_create(owner=user, url=fake_server.url + "/events", event_types=["job.completed"])
    webhook_endpoint_create(owner=user, url=fake_server.url + "/failures", event_types=["job.failed"])
    job = job_submit(user, payload={"hello": "world"})
    get_broker().purge_queue()
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    [delivery] = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert WebhookDelivery.objects.count() == 1  # not to the job.failed endpoint, and no callback (no URL)
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    [request] = fake_server.requests
    assert request["path"] == "/events" and _verifies(request, endpoint.secret)
    body = json.loads(request["body"])
    assert (body["type"], body["data"]["id"], body["data"]["status"]) == ("job.completed", str(job.pk), "succeeded")
    # Notified again for the same final state (a re-run of the hand-over): still one message.
    from jobs.callbacks import job_final_notify

    job_final_notify(job_id=job.pk)
    assert WebhookDelivery.objects.count() == 1
