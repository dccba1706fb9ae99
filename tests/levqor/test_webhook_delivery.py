"""The webhook engine's delivery: signed messages a Standard Webhooks receiver verifies, rotation
overlap, the fixed retry schedule, every attempt stored, auto-disable with email and alert, the
SSRF guard and https-only, the sweep, and a task run twice sending once. Receivers are real local
HTTP servers (fake_server); time moves with the clock fixture."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_q.models import Schedule

from intelligence.models import Alert
from levqor.webhooks.delivery import DELIVER_TASK, MAX_ATTEMPTS, webhook_deliveries_sweep, webhook_delivery_attempt
from levqor.webhooks.endpoints import webhook_endpoint_create, webhook_endpoint_secret_rotate
from levqor.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from levqor.webhooks.services import webhook_event_emit, webhook_send
from levqor.webhooks.signals import webhook_delivery_settled, webhook_endpoint_disabled
from levqor.webhooks.tasks import webhook_deliver
from tests.factories import UserFactory
from tests.webhook_receiver import SlowReceiver
from tests.webhook_receiver import received_verifies as _verifies

pytestmark = pytest.mark.django_db



def _endpoint(owner, fake_server, *, path="/hook", types=("job.completed",)):
    return webhook_endpoint_create(owner=owner, url=fake_server.url + path, event_types=list(types))


def _emit(owner, data=None, key=None):
    [delivery] = webhook_event_emit(owner=owner, audience="account", event_type="job.completed",
                                    data=data or {"id": "j1"}, key=key)
    return delivery


def test_an_event_reaches_its_endpoint_signed_and_the_attempt_is_stored(user, fake_server):
    endpoint = _endpoint(user, fake_server)
    delivery = _emit(user, {"hello": "world"})
    assert webhook_deliver(str(delivery.pk)) == "delivered"

    [request] = fake_server.requests
    assert (request["method"], request["path"]) == ("POST", "/hook")
    assert _verifies(request, endpoint.secret)
    assert not _verifies(request, WebhookEndpoint(owner=user).secret)  # another secret does not verify
    body = json.loads(request["body"])
    assert (body["type"], body["data"], body["id"]) == ("job.completed", {"hello": "world"}, delivery.msg_id)
    assert request["headers"]["webhook-id"] == delivery.msg_id
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    [attempt] = delivery.attempt_rows.all()
    assert (attempt.number, attempt.status_code, attempt.succeeded, attempt.url) == (1, 200, True, endpoint.url)
    assert attempt.response_snippet == "{}"


def test_the_task_run_twice_sends_once(user, fake_server):
    _endpoint(user, fake_server)
    delivery = _emit(user)
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    assert webhook_deliver(str(delivery.pk)) is None
    assert len(fake_server.requests) == 1


def test_a_claimed_attempt_cannot_be_made_by_a_second_copy(user, fake_server):
    _endpoint(user, fake_server)
    delivery = _emit(user)
    # The first copy claimed attempt 1 (and is sending it): the second finds it not due.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1, next_attempt_at=timezone.now() + timedelta(seconds=40))
    assert webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert fake_server.requests == []


def test_the_retry_schedule_is_svix_s_and_every_attempt_is_stored(user, fake_server, clock):
    _endpoint(user, fake_server)
    fake_server.responses = [(500, {"error": "down"})] * MAX_ATTEMPTS
    delivery = _emit(user)
    settled = []
    webhook_delivery_settled.connect(lambda sender, delivery, **kw: settled.append(delivery.status), weak=False,
                                     dispatch_uid="test-settled")
    try:
        waits = []
        for number in range(1, MAX_ATTEMPTS + 1):
            state = webhook_deliver(str(delivery.pk))
            delivery.refresh_from_db()
            if number < MAX_ATTEMPTS:
                assert state == "pending"
                wait = delivery.next_attempt_at - timezone.now()
                waits.append(round(wait.total_seconds()))
                assert webhook_deliver(str(delivery.pk)) is None, "not due before its time"
                clock.advance(wait.total_seconds())
        assert state == "failed"
    finally:
        webhook_delivery_settled.disconnect(dispatch_uid="test-settled")
    assert waits == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 8, None)
    attempts = list(delivery.attempt_rows.order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [(n, 500, False) for n in range(1, 9)]
    assert all('"down"' in a.response_snippet and "500" in a.error for a in attempts)
    # Same id and same body each time; each attempt its own timestamp, each verifies.
    assert {r["headers"]["webhook-id"] for r in fake_server.requests} == {delivery.msg_id}
    assert {r["body"] for r in fake_server.requests} == {delivery.body.encode()}


def test_a_retry_is_a_django_q2_once_schedule(user, fake_server, django_capture_on_commit_callbacks):
    _endpoint(user, fake_server)
    fake_server.responses = [(503, {})]
    delivery = _emit(user)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliver(str(delivery.pk)) == "pending"
    delivery.refresh_from_db()
    schedule = Schedule.objects.get(func=DELIVER_TASK)
    assert (schedule.schedule_type, schedule.next_run, schedule.args) == (
        Schedule.ONCE, delivery.next_attempt_at, repr((str(delivery.pk),)))


def test_a_long_answer_is_stored_as_a_500_character_snippet(user, fake_server):
    _endpoint(user, fake_server)
    fake_server.responses = [(400, {"error": "x" * 5000})]
    delivery = _emit(user)
    webhook_deliver(str(delivery.pk))
    attempt = WebhookAttempt.objects.get(delivery=delivery)
    assert len(attempt.response_snippet) == 500 and attempt.status_code == 400


def test_rotation_overlap_signs_with_both_then_only_the_new(user, fake_server, clock):
    endpoint = _endpoint(user, fake_server)
    old = endpoint.secret
    new = webhook_endpoint_secret_rotate(endpoint=endpoint)
    assert new != old and endpoint.previous_secret_expires_at == endpoint.rotated_at + timedelta(hours=24)
    webhook_deliver(str(_emit(user, key="a").pk))
    during = fake_server.requests[-1]
    assert len(during["headers"]["webhook-signature"].split(" ")) == 2
    assert _verifies(during, old) and _verifies(during, new)

    clock.advance(24 * 3600 + 1)
    webhook_deliver(str(_emit(user, key="b").pk))
    after = fake_server.requests[-1]
    assert _verifies(after, new) and not _verifies(after, old)


def test_a_job_callback_url_is_signed_with_the_account_secret(user, fake_server):
    delivery = webhook_send(owner=user, url=fake_server.url + "/cb", event_type="job.succeeded", data={"a": 1},
                            key="k1")
    assert webhook_deliver(str(delivery.pk)) == "delivered"
    secret = user.webhook_signing_secret.secret
    assert _verifies(fake_server.requests[0], secret)
    # once-only by key
    assert webhook_send(owner=user, url=fake_server.url + "/cb", event_type="job.succeeded", data={"a": 1},
                        key="k1").pk == delivery.pk


def _last_attempt(delivery):
    """The delivery's next attempt is the last of its schedule (as if the seven before had failed)."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS - 1)
    return str(delivery.pk)


def test_a_message_to_a_url_is_stored_once_per_owner_by_the_database(user):
    """The unique (endpoint, msg_id) does not cover deliveries without an endpoint (NULLs differ), so a
    partial unique (owner, msg_id) where endpoint IS NULL does."""
    from django.db import IntegrityError, transaction

    delivery = webhook_send(owner=user, url="https://example.com/cb", event_type="job.succeeded", data={}, key="u")
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookDelivery.objects.create(owner=user, url="https://example.com/other", event_type="job.succeeded",
                                       msg_id=delivery.msg_id, body="{}")
    other = UserFactory()
    assert webhook_send(owner=other, url="https://example.com/cb", event_type="job.succeeded", data={},
                        key="u").pk != delivery.pk  # another owner, the same message id: its own row


def test_the_same_callback_sent_by_three_callers_at_once_is_one_delivery(transactional_db):
    from tests.concurrency import run_together

    owner = UserFactory()
    results, errors = run_together(lambda: webhook_send(owner=owner, url="https://example.com/cb",
                                                        event_type="job.succeeded", data={}, key="race").pk,
                                   threads=3)
    assert errors == [] and len(set(results)) == 1 and len(results) == 3
    assert WebhookDelivery.objects.filter(owner=owner).count() == 1


def test_ten_failed_deliveries_in_a_row_disable_the_endpoint_email_its_owner_and_raise_an_alert(
        user, fake_server, clock, django_capture_on_commit_callbacks):
    endpoint = _endpoint(user, fake_server)
    fake_server.responses = [(500, {})] * 20
    deliveries = [_emit(user, key=f"e{i}") for i in range(11)]
    told = []
    webhook_endpoint_disabled.connect(lambda sender, endpoint, **kw: told.append(endpoint.consecutive_failures),
                                      weak=False, dispatch_uid="test-disabled")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for d in deliveries[:9]:
                assert webhook_deliver(_last_attempt(d)) == "failed"
        endpoint.refresh_from_db()
        assert (endpoint.consecutive_failures, endpoint.enabled) == (9, True)
        with django_capture_on_commit_callbacks(execute=True):
            webhook_deliver(_last_attempt(deliveries[9]))
    finally:
        webhook_endpoint_disabled.disconnect(dispatch_uid="test-disabled")
    endpoint.refresh_from_db()
    assert endpoint.enabled is False and endpoint.disabled_at is not None
    assert "10 consecutive failed deliveries" in endpoint.disabled_reason
    assert told == [10], "receivers of the signal see the count the database holds"
    # Its pending deliveries stopped.
    assert set(WebhookDelivery.objects.filter(endpoint=endpoint).values_list("status", "last_error")) == {
        ("failed", "endpoint disabled"), ("failed", "The receiver answered 500.")}
    assert WebhookDelivery.objects.get(pk=deliveries[10].pk).last_error == "endpoint disabled"
    [message] = mail.outbox
    assert message.to == [user.email] and endpoint.url in message.body
    alert = Alert.objects.get(dedup_key=f"webhooks:endpoint_disabled:{endpoint.pk}")
    assert alert.severity == "warning"
    # Nothing more is emitted to it.
    assert webhook_event_emit(owner=user, audience="account", event_type="job.completed", data={}) == []


def test_a_short_outage_over_many_queued_events_disables_nothing(user, fake_server):
    """Failed attempts with retries to come are not failed deliveries: a receiver down for a moment
    while 20 events were queued fails 20 first attempts and the endpoint stays enabled."""
    endpoint = _endpoint(user, fake_server)
    fake_server.responses = [(503, {})] * 20
    for i in range(20):
        assert webhook_deliver(str(_emit(user, key=f"o{i}").pk)) == "pending"
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.consecutive_failures) == (True, 0)


def test_a_refused_delivery_counts_as_a_failed_delivery(user, fake_server, settings):
    endpoint = _endpoint(user, fake_server)
    delivery = _emit(user)
    settings.WEBHOOK_HTTPS_ONLY = True  # the endpoint's http URL is refused from now on
    assert webhook_deliver(str(delivery.pk)) == "failed"
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1 and fake_server.requests == []


def test_a_delivered_delivery_resets_the_failure_count(user, fake_server):
    endpoint = _endpoint(user, fake_server)
    fake_server.responses = [(500, {}), (500, {}), (200, {})]
    for i in range(2):
        webhook_deliver(_last_attempt(_emit(user, key=f"r{i}")))
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 2
    # The worker's in-memory endpoint may say 0 (it was loaded before the others counted): the reset
    # is made in the database all the same.
    webhook_deliver(str(_emit(user, key="r2").pk))
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_an_attempt_that_lost_its_claim_records_nothing(user, fake_server, django_capture_on_commit_callbacks):
    """An attempt that outlived its claim (another worker took the delivery over and made attempt 2)
    stores no attempt, counts no failure and schedules nothing."""
    from levqor.webhooks.delivery import _record
    from levqor.webhooks.policy import webhook_policy
    from levqor.webhooks.post import WebhookPostResult

    endpoint = _endpoint(user, fake_server)
    delivery = _emit(user)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=2)  # the other worker's claim
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
    late = WebhookPostResult(status_code=500, snippet="", error="The receiver answered 500.", duration_ms=3)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert _record(delivery, number=1, result=late, started_at=timezone.now(), policy=webhook_policy()) is None
    assert callbacks == [] and not Schedule.objects.filter(func=DELIVER_TASK).exists()
    assert not WebhookAttempt.objects.filter(delivery=delivery).exists()
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 2, "")
    assert endpoint.consecutive_failures == 0
    # A last attempt that lost its claim does not count a failed delivery either.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=MAX_ATTEMPTS)
    assert _record(delivery, number=MAX_ATTEMPTS - 1, result=late, started_at=timezone.now(),
                   policy=webhook_policy()) is None
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0


def test_an_attempt_in_flight_when_its_endpoint_is_disabled_does_not_revive_the_delivery(
        user, fake_server, django_capture_on_commit_callbacks):
    """Auto-disable fails every pending delivery of the endpoint, including one whose attempt is on
    the wire: when that attempt comes back (even delivered), the delivery stays failed with
    "endpoint disabled", the attempt is kept in its history, and nothing is settled twice."""
    from levqor.webhooks.delivery import _record, webhook_endpoint_auto_disable
    from levqor.webhooks.policy import webhook_policy
    from levqor.webhooks.post import WebhookPostResult

    endpoint = _endpoint(user, fake_server)
    delivery = _emit(user)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=1)  # this worker's claim of attempt 1
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery.pk)
    settled = []
    webhook_delivery_settled.connect(lambda sender, delivery, **kw: settled.append(delivery.status), weak=False,
                                     dispatch_uid="test-settled-once")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert webhook_endpoint_auto_disable(endpoint=endpoint, failures=10)
        came_back = WebhookPostResult(status_code=200, snippet="{}", error="", duration_ms=4)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert _record(delivery, number=1, result=came_back, started_at=timezone.now(),
                           policy=webhook_policy()) == "failed"
    finally:
        webhook_delivery_settled.disconnect(dispatch_uid="test-settled-once")
    assert callbacks == [] and settled == ["failed"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error, delivery.delivered_at) == ("failed", "endpoint disabled", None)
    [attempt] = WebhookAttempt.objects.filter(delivery=delivery)
    assert (attempt.number, attempt.succeeded, attempt.status_code) == (1, True, 200)
    assert not Schedule.objects.filter(func=DELIVER_TASK).exists()


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data", "http://10.1.2.3/hook", "fake"])
def test_a_private_target_fails_at_once_and_nothing_is_sent(target, user, fake_server, settings_outbound_strict):
    url = fake_server.url + "/hook" if target == "fake" else target
    delivery = webhook_send(owner=user, url=url, event_type="job.succeeded", data={}, key=target)
    assert webhook_deliver(str(delivery.pk)) == "failed"
    assert fake_server.requests == []
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and "private" in delivery.last_error


def test_https_only_in_production_refuses_http(user, fake_server, settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    delivery = webhook_send(owner=user, url=fake_server.url + "/hook", event_type="job.succeeded", data={}, key="h")
    assert webhook_deliver(str(delivery.pk)) == "failed"
    assert fake_server.requests == []
    delivery.refresh_from_db()
    assert "https" in delivery.last_error


def test_the_sweep_hands_over_a_delivery_whose_task_was_lost(user, fake_server, clock):
    _endpoint(user, fake_server)
    delivery = _emit(user)  # in the test's transaction: its task is never sent, as if lost
    from django_q.brokers import get_broker

    get_broker().purge_queue()
    assert webhook_deliveries_sweep() == 0, "not yet: it may still be on its way"
    clock.advance(121)
    assert webhook_deliveries_sweep() == 1
    from tests.jobs.support import tasks_drain

    ran = tasks_drain()
    assert (DELIVER_TASK, (str(delivery.pk),), "delivered") in ran
    assert len(fake_server.requests) == 1


def test_an_endpoint_disabled_meanwhile_gets_nothing(user, fake_server):
    endpoint = _endpoint(user, fake_server)
    delivery = _emit(user)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    assert webhook_deliver(str(delivery.pk)) == "failed"
    assert fake_server.requests == []


def test_the_owner_s_deliveries_go_with_the_account(user, fake_server):
    _endpoint(user, fake_server)
    _emit(user)
    other = UserFactory()
    user.delete()
    assert not WebhookDelivery.objects.exists() and not WebhookEndpoint.objects.exists()
    assert other.pk


@pytest.mark.parametrize("mode", ["late", "drip_headers", "drip_body"])
def test_an_attempt_slower_than_the_policys_timeout_fails_as_a_timeout(mode, user, operator):
    """The governance policy's webhook timeout is the engine's, as a deadline on the whole attempt: a
    receiver that answers after it, or drips its answer a byte at a time (each byte inside httpx's
    per-read timeout), is a failed attempt (retried) ended near the timeout, not a worker held for
    hours past its claim (after which a second worker would send the same message)."""
    import time

    from levqor.webhooks.delivery import claim_lease
    from partners.services.policy import policy_version_create

    receiver = SlowReceiver(mode)
    try:
        policy_version_create(actor=operator.user, reason="A tighter timeout", webhook_timeout_seconds=1)
        webhook_endpoint_create(owner=user, url=receiver.url, event_types=["job.completed"])
        delivery = _emit(user)
        started = time.monotonic()
        assert webhook_deliver(str(delivery.pk)) == "pending"  # failed this time, retried later
        took = time.monotonic() - started
        assert took < 1.6, f"the attempt took {took:.1f} s, past its 1 s deadline"
        [attempt] = delivery.attempt_rows.all()
        assert not attempt.succeeded and "Timeout" in attempt.error and receiver.requests == 1
        assert attempt.status_code == (200 if mode == "drip_body" else None)
        if mode == "drip_body":
            assert attempt.response_snippet.startswith("y")  # what came in time is kept
        assert 900 <= attempt.duration_ms < 1600
        # The claim outlives the attempt: no sweep hands the delivery to a second worker meanwhile.
        assert claim_lease(1).total_seconds() > 1 + 10
    finally:
        receiver.close()


def test_a_webhook_is_not_fooled_by_dns_that_changes_its_answer(fake_server, settings_outbound_strict, dns_rebinding):
    """DNS rebinding: a public address at the first lookup, loopback after. The attempt looks the host
    up once, checks that answer and connects to it (here an address this sandbox cannot reach), so
    nothing reaches loopback."""
    from levqor.webhooks.post import webhook_post

    port = fake_server.url.rsplit(":", 1)[1]
    result = webhook_post(f"http://{dns_rebinding}:{port}/hook", body=b"{}", headers={}, timeout=2)
    assert fake_server.requests == []
    assert not result.succeeded


def test_each_receiver_origin_has_its_own_connections():
    """Requests are pinned to resolved addresses, so two host names on one address must not share a
    connection pool (a TLS connection set up for one name would carry the other's request)."""
    from levqor.webhooks import post

    a, b = post._client("https://a.example.test/hook"), post._client("https://b.example.test/hook")
    assert a is not b
    assert post._client("https://a.example.test/other") is a  # same origin: kept-alive connections reused
    assert post._client("https://a.example.test:8443/hook") is not a
    for n in range(post.CLIENTS_PER_THREAD + 1):
        post._client(f"https://host{n}.example.test/")
    assert post._client("https://a.example.test/hook") is not a  # the least recently used was closed
    assert a.is_closed


@pytest.fixture
def dns_down(monkeypatch):
    """The resolver answers "try again" (EAI_AGAIN) for every name: a passing DNS failure."""
    import socket

    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_passing_dns_failure_is_a_failed_attempt_retried_not_a_refusal(user, settings_outbound_strict, dns_down):
    endpoint = WebhookEndpoint.objects.create(owner=user, url="https://hooks.example.test/h",
                                              event_types=["job.completed"])
    delivery = _emit(user)
    assert webhook_deliver(str(delivery.pk)) == "pending"
    delivery.refresh_from_db()
    [attempt] = delivery.attempt_rows.all()
    assert not attempt.succeeded and "does not resolve" in attempt.error
    assert delivery.status == "pending" and delivery.next_attempt_at > timezone.now()  # the schedule's next step
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0  # a delivery still being retried has not failed


def test_a_slow_resolver_is_within_the_attempts_deadline(user, settings_outbound_strict, monkeypatch):
    import socket
    import time

    from levqor.webhooks.post import webhook_post

    def getaddrinfo(*args, **kwargs):
        time.sleep(2)
        raise socket.gaierror(socket.EAI_AGAIN, "slow")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    started = time.monotonic()
    result = webhook_post("https://slow-dns.example.test/h", body=b"{}", headers={}, timeout=0.5)
    assert time.monotonic() - started < 1.0, "the lookup held the attempt past its deadline"
    assert not result.succeeded and not result.refused and "longer than" in result.error


def test_a_url_the_client_cannot_send_to_is_refused_at_entry_and_never_sticks_a_delivery(api, user):
    """An invalid IDNA host passes a plain URL split but not the HTTP client: refused when entered,
    and an attempt at such a URL (stored before this check) fails instead of raising."""
    from levqor.webhooks.post import webhook_post

    response = api.post("/api/v1/webhooks/endpoints", {"url": "https://xn--a.evil.test/h",
                                                       "event_types": ["job.completed"]}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "invalid_webhook_url"
    result = webhook_post("https://xn--a.evil.test/h", body=b"{}", headers={}, timeout=1)
    assert not result.succeeded and result.refused
