from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from jobs.execution import worker_heartbeat
from jobs.models import Job, JobEvent, UptimeMinute, WorkerHeartbeat
from tests.api_asserts import assert_api_error
from tests.factories import JobFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web():
    return Client()


def test_root_keeps_the_old_fields(web, settings):
    body = web.get("/").json()
    assert body == {"ok": True, "service": "levqor-backend", "version": settings.LEVQOR_VERSION,
                    "build": settings.LEVQOR_BUILD}


def test_health_is_liveness_without_the_database(web, django_assert_num_queries):
    with django_assert_num_queries(0):
        body = web.get("/health").json()
    assert body["ok"] is True and abs(body["ts"] - timezone.now().timestamp()) < 5


def test_status_passes_only_with_a_recent_worker_heartbeat(web):
    response = web.get("/status")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"
    assert response.json()["checks"]["worker"]["ok"] is False

    worker_heartbeat()
    response = web.get("/status")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "pass"
    assert set(body["checks"]) == {"database", "cache", "worker"}


def test_status_fails_when_the_heartbeat_is_stale(web, settings):
    WorkerHeartbeat.objects.create(name="old-host", beat_at=timezone.now() - timedelta(
        seconds=settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS + 10))
    response = web.get("/status")
    assert response.status_code == 503
    assert "last heartbeat" in response.json()["checks"]["worker"]["detail"]


def test_status_reports_a_broken_database_as_503_not_500(web, monkeypatch):
    worker_heartbeat()

    def broken(*args, **kwargs):
        raise RuntimeError("database is gone")

    monkeypatch.setattr(connection, "cursor", broken)
    response = web.get("/status")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "detail": "RuntimeError: database is gone"}


def test_uptime_counts_from_process_start(web):
    body = web.get("/ops/uptime").json()
    assert set(body) == {"uptime_seconds", "start_time", "current_time", "version", "build"}
    assert body["uptime_seconds"] >= 0
    assert body["start_time"] <= body["current_time"]


def test_queue_health_counts_real_jobs(web):
    owner = UserFactory()
    for status, n in [("queued", 3), ("running", 1), ("succeeded", 4), ("failed", 2), ("cancelled", 1)]:
        for _ in range(n):
            JobFactory(owner=owner, status=status)  # a running one holds a live lease
    worker_heartbeat()
    body = web.get("/ops/queue_health").json()
    assert body["queue_stats"] == {"queued": 3, "running": 1, "completed": 4, "failed": 2, "cancelled": 1, "total": 11}
    assert body["healthy"] is True


def test_queue_health_is_unhealthy_with_stale_backlog_or_expired_leases(web):
    owner = UserFactory()
    worker_heartbeat()
    JobFactory(owner=owner, status="queued", next_attempt_at=timezone.now() - timedelta(minutes=10))
    body = web.get("/ops/queue_health").json()
    assert body["healthy"] is False and body["oldest_due_wait_seconds"] >= 600
    Job.objects.all().delete()
    JobFactory(owner=owner, lease_expired=True)
    body = web.get("/ops/queue_health").json()
    assert body["healthy"] is False and body["expired_leases"] == 1


def _early_in_a_minute(clock):
    """Move the clock to 5 s past a minute's start (so a test ends within that minute); return that minute."""
    now = timezone.now()
    clock.advance(65 - now.second - now.microsecond / 1e6)
    return timezone.now().replace(second=0, microsecond=0)


def test_public_metrics_are_computed_from_data(web, clock):
    body = web.get("/public/metrics").json()
    # Nothing recorded yet: no invented figures.
    assert body["uptime_rolling_7d"] is None and body["audit_coverage"] is None and body["jobs_today"] == 0

    now = _early_in_a_minute(clock)
    # Worker seen in 3 of the last 4 finished minutes -> 75 % (the minute in progress does not count).
    for minutes_ago in (4, 3, 1, 0):
        UptimeMinute.objects.create(minute=now - timedelta(minutes=minutes_ago))
    owner = UserFactory()
    # Made at the moved clock's time (a model default reads the real clock): near midnight the two differ by a day.
    complete = JobFactory(owner=owner, status="succeeded", created_at=timezone.now(), finished_at=timezone.now())
    JobEvent.objects.create(job=complete, kind="created", to_status="queued")
    JobEvent.objects.create(job=complete, kind="succeeded", to_status="succeeded")
    JobFactory(owner=owner, status="failed", created_at=timezone.now(), finished_at=timezone.now())  # no event log: not covered
    JobFactory(owner=owner, status="queued", created_at=timezone.now() - timedelta(days=2))  # not today

    body = web.get("/public/metrics").json()
    assert body["jobs_today"] == 2
    assert body["audit_coverage"] == 50.0
    assert body["uptime_rolling_7d"] == 75.0


def _uptime(web):
    return web.get("/public/metrics").json()["uptime_rolling_7d"]


def test_uptime_with_a_live_worker_is_100_before_the_reaper_runs_in_the_new_minute(web, clock):
    minute = _early_in_a_minute(clock)
    for minutes_ago in range(1, 6):  # the reaper ran in each of the last five minutes
        UptimeMinute.objects.create(minute=minute - timedelta(minutes=minutes_ago))
    # This minute's run has not happened yet: the minute in progress is not downtime.
    assert _uptime(web) == 100.0
    worker_heartbeat()  # the reaper's run in this minute
    assert _uptime(web) == 100.0
    clock.advance(60)
    assert _uptime(web) == 100.0
    # A minute that ended without a run is downtime: 6 of 7 finished minutes.
    clock.advance(60)
    assert _uptime(web) == round(100 * 6 / 7, 2)


def test_uptime_is_none_until_a_recorded_minute_has_ended(web, clock):
    _early_in_a_minute(clock)
    worker_heartbeat()  # records began this minute
    assert _uptime(web) is None
    clock.advance(60)
    assert _uptime(web) == 100.0


def test_uptime_covers_exactly_the_last_7_days_of_finished_minutes(web, clock):
    minute = _early_in_a_minute(clock)
    week = 7 * 24 * 60
    # Records began well before the window; the worker ran every minute of the week but 1008.
    UptimeMinute.objects.bulk_create(UptimeMinute(minute=minute - timedelta(minutes=ago))
                                     for ago in range(1, week + 30) if not 1 <= ago <= 1008)
    assert _uptime(web) == 90.0


READ_ONLY_PATHS = ["/health", "/status", "/ops/uptime", "/ops/queue_health", "/public/metrics"]
UNSAFE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", [*UNSAFE_METHODS, "TRACE"])
@pytest.mark.parametrize("path", [*READ_ONLY_PATHS, "/dashboard/status"])  # the dashboard's JSON refresher too
def test_another_method_on_a_read_only_json_path_is_405_not_a_csrf_refusal(path, method):
    # CSRF enforced, as for any real client; a signed-in browser's session (past the terms gate)
    # changes nothing.
    for client in (Client(enforce_csrf_checks=True), _signed_in(UserFactory(terms_accepted=True))):
        response = client.generic(method, path, HTTP_X_REQUEST_ID="rid-405")
        body = assert_api_error(response, 405, "method_not_allowed")
        assert body["correlation_id"] == "rid-405"
        assert response["Allow"] == "GET, HEAD, OPTIONS"
        assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
@pytest.mark.parametrize("path", READ_ONLY_PATHS)
def test_read_only_json_paths_still_answer_the_safe_methods(path, method):
    response = Client(enforce_csrf_checks=True).generic(method, path)
    assert response.status_code in (200, 503)  # /status is 503 without a worker heartbeat
    if method != "HEAD":
        assert response.json()


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE", *UNSAFE_METHODS])
def test_the_root_answers_every_method_as_the_old_service_did(method, settings):
    response = Client(enforce_csrf_checks=True).generic(method, "/")
    assert response.status_code == 200, response.content
    if method != "HEAD":
        assert response.json() == {"ok": True, "service": "levqor-backend", "version": settings.LEVQOR_VERSION,
                                   "build": settings.LEVQOR_BUILD}


def _signed_in(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client
