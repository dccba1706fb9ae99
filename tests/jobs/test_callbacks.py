"""Callbacks: a finished job is POSTed to its callback_url, signed the Standard Webhooks way with
the owner's secret, retried with backoff, and every attempt is recorded. The receiver is a real
HTTP server (the fake_server fixture); we assert on what it received."""

import json
import socket
import time
from datetime import timedelta

import pytest
import standardwebhooks
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule

from jobs import dispatch
from jobs.callbacks import job_callback_deliver
from jobs.execution import job_reap, job_run_next
from jobs.models import CallbackDelivery, Job
from jobs.services import job_cancel
from levqor.webhooks.signing import webhook_secret_generate
from tests.jobs.support import job_submit, schedules_fire, tasks_drain

pytestmark = pytest.mark.django_db


def _verifies(request, secret) -> bool:
    """As a receiver checks it: with the Standard Webhooks package itself, not our signing code."""
    try:
        standardwebhooks.Webhook(secret).verify(request["body"], request["headers"])
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def test_a_finished_job_is_posted_signed_to_its_callback_url(api, fake_server, django_capture_on_commit_callbacks):
    owner = api.user
    job = job_submit(owner, payload={"hello": "world"}, callback_url=fake_server.url + "/hooks/levqor?x=1")
    get_broker().purge_queue()  # the job is run here, not by its run token
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    ran = tasks_drain()  # the callback task django-q2 was given, run as a worker would
    assert [func for func, _, _ in ran] == [dispatch.DELIVER_CALLBACK]

    assert len(fake_server.requests) == 1
    request = fake_server.requests[0]
    assert (request["method"], request["path"]) == ("POST", "/hooks/levqor?x=1")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"].startswith("msg_")
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert _verifies(request, owner.webhook_secret)
    # Anyone else's secret, or a body changed on the way, does not verify.
    assert not _verifies(request, webhook_secret_generate())
    assert not _verifies({**request, "body": request["body"].replace(b"world", b"w0rld")}, owner.webhook_secret)

    body = json.loads(request["body"])
    assert body["type"] == "job.succeeded"
    # The body is the job as the API shows it.
    shown = api.get(f"/api/v1/jobs/{job.pk}").json()
    assert {k: v for k, v in body["data"].items() if k != "callback_status"} == {
        key: shown[key] for key in body["data"] if key != "callback_status"}
    assert body["data"]["callback_status"] == "pending"  # as it was while being sent
    assert (body["data"]["id"], body["data"]["status"], body["data"]["result"]) == (
        str(job.pk), "succeeded", {"echo": {"hello": "world"}})

    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts, job.callback_next_at) == ("delivered", 1, None)
    delivery = CallbackDelivery.objects.get(job=job)
    assert (delivery.attempt, delivery.status_code, delivery.succeeded, delivery.webhook_id) == (
        1, 200, True, headers["webhook-id"])
    event = job.events.get(kind="callback_attempt")
    assert (event.data["status_code"], event.data["outcome"]) == (200, "delivered")

    # A duplicated task does not send it again.
    assert job_callback_deliver(job_id=job.pk) is None
    assert len(fake_server.requests) == 1


@pytest.mark.django_db(transaction=True)  # the retry goes through django-q2's scheduler
def test_a_failed_delivery_is_retried_on_a_schedule_and_every_attempt_is_recorded(user, fake_server):
    fake_server.responses = [(500, {"error": "down"}), (200, {"ok": True})]
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    before = timezone.now()
    tasks_drain()  # runs the job, then the first delivery
    job.refresh_from_db()
    assert (job.status, job.callback_status, job.callback_attempts) == ("succeeded", "pending", 1)
    # First retry after 5-10 s (base 10 s, equal jitter), as a django-q2 ONCE schedule for this job.
    wait = (job.callback_next_at - before).total_seconds()
    assert 5 <= wait <= 12, wait
    schedule = Schedule.objects.get(func=dispatch.DELIVER_CALLBACK)
    assert (schedule.schedule_type, schedule.next_run) == (Schedule.ONCE, job.callback_next_at)

    schedules_fire()
    ran = tasks_drain()
    assert (dispatch.DELIVER_CALLBACK, (str(job.pk),), "delivered") in ran

    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts) == ("delivered", 2)
    deliveries = list(CallbackDelivery.objects.filter(job=job).order_by("attempt"))
    assert [(d.attempt, d.status_code, d.succeeded) for d in deliveries] == [(1, 500, False), (2, 200, True)]
    assert "500" in deliveries[0].error
    # Both attempts carry the same message id (receivers dedupe on it) and both verify.
    assert len(fake_server.requests) == 2
    ids = {r["headers"]["webhook-id"] for r in fake_server.requests}
    assert ids == {deliveries[0].webhook_id}
    assert all(_verifies(r, user.webhook_secret) for r in fake_server.requests)


def test_delivery_gives_up_after_callback_max_attempts(user, fake_server, settings,
                                                       django_capture_on_commit_callbacks):
    settings.CALLBACK_MAX_ATTEMPTS = 3
    fake_server.responses = [(500, {})] * 5
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    states = [job_callback_deliver(job_id=job.pk) for _ in range(3)]
    assert states == ["pending", "pending", "failed"]
    assert job_callback_deliver(job_id=job.pk) is None
    assert len(fake_server.requests) == 3
    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts, job.callback_next_at) == ("failed", 3, None)
    assert CallbackDelivery.objects.filter(job=job, succeeded=False).count() == 3


def test_an_unreachable_receiver_is_retried(user, django_capture_on_commit_callbacks):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    job = job_submit(user, callback_url=f"http://127.0.0.1:{port}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    assert job_callback_deliver(job_id=job.pk) == "pending"
    delivery = CallbackDelivery.objects.get(job=job)
    assert (delivery.status_code, delivery.succeeded) == (None, False)
    assert "ConnectError" in delivery.error


@pytest.mark.parametrize("target", ["fake", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook"])
def test_a_callback_to_a_private_address_fails_at_once_and_nothing_is_sent(
        target, user, fake_server, settings_outbound_strict, django_capture_on_commit_callbacks):
    url = fake_server.url + "/hook" if target == "fake" else target
    job = job_submit(user, callback_url=url)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job_run_next()
    assert callbacks, "the delivery was handed to django-q2"
    started = time.monotonic()
    assert job_callback_deliver(job_id=job.pk) == "failed"
    assert time.monotonic() - started < 2, "refused before any connection attempt"
    assert fake_server.requests == []
    job.refresh_from_db()
    assert (job.callback_status, job.callback_attempts) == ("failed", 1)
    delivery = CallbackDelivery.objects.get(job=job)
    assert (delivery.status_code, delivery.succeeded) == (None, False)
    assert "private" in delivery.error
    assert not Schedule.objects.filter(func=dispatch.DELIVER_CALLBACK).exists()


def test_a_cancelled_job_is_called_back_too(user, fake_server, django_capture_on_commit_callbacks):
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=job)
    tasks_drain()
    assert [json.loads(r["body"])["type"] for r in fake_server.requests] == ["job.cancelled"]
    assert _verifies(fake_server.requests[0], user.webhook_secret)


def test_the_reaper_resends_a_callback_whose_task_was_lost(user, fake_server):
    job = job_submit(user, callback_url=fake_server.url + "/hook")
    job_run_next()  # in the test's transaction: the callback task is never sent, as if lost
    job.refresh_from_db()
    assert job.callback_status == "pending"
    assert job_reap()["callbacks"] == 0, "not yet: it may still be on its way"
    Job.objects.filter(pk=job.pk).update(callback_next_at=timezone.now() - timedelta(minutes=3))
    assert job_reap()["callbacks"] == 1
    tasks_drain()
    job.refresh_from_db()
    assert job.callback_status == "delivered"
    assert len(fake_server.requests) == 1


def test_a_callback_host_whose_dns_changes_to_loopback_gets_nothing(user, fake_server, settings_outbound_strict,
                                                                    monkeypatch, django_capture_on_commit_callbacks):
    real, answers = socket.getaddrinfo, iter(["93.184.215.14"])  # public when checked, loopback after

    def getaddrinfo(host, *args, **kwargs):
        return real(next(answers, "127.0.0.1") if host == "hooks.example.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    job = job_submit(user, callback_url=f"http://hooks.example.test:{fake_server.url.rsplit(':', 1)[1]}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_next()
    assert job_callback_deliver(job_id=job.pk) == "failed"
    assert fake_server.requests == []
