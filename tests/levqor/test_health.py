from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from jobs.execution import worker_heartbeat
from jobs.models import Job, JobEvent, UptimeMinute, WorkerHeartbeat
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory

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


def _job(owner, status, **fields):
    return Job.objects.create(owner=owner, workflow="demo.flow", status=status, **fields)


def test_queue_health_counts_real_jobs(web):
    owner = UserFactory()
    for status, n in [("queued", 3), ("running", 1), ("succeeded", 4), ("failed", 2), ("cancelled", 1)]:
        for _ in range(n):
            _job(owner, status, lease_expires_at=timezone.now() + timedelta(minutes=1) if status == "running" else None)
    worker_heartbeat()
    body = web.get("/ops/queue_health").json()
    assert body["queue_stats"] == {"queued": 3, "running": 1, "completed": 4, "failed": 2, "cancelled": 1, "total": 11}
    assert body["healthy"] is True


def test_queue_health_is_unhealthy_with_stale_backlog_or_expired_leases(web):
    owner = UserFactory()
    worker_heartbeat()
    _job(owner, "queued", next_attempt_at=timezone.now() - timedelta(minutes=10))
    body = web.get("/ops/queue_health").json()
    assert body["healthy"] is False and body["oldest_due_wait_seconds"] >= 600
    Job.objects.all().delete()
    _job(owner, "running", lease_expires_at=timezone.now() - timedelta(seconds=1))
    body = web.get("/ops/queue_health").json()
    assert body["healthy"] is False and body["expired_leases"] == 1


def test_public_metrics_are_computed_from_data(web):
    body = web.get("/public/metrics").json()
    # Nothing recorded yet: no invented figures.
    assert body["uptime_rolling_7d"] is None and body["audit_coverage"] is None and body["jobs_today"] == 0

    now = timezone.now().replace(second=0, microsecond=0)
    # Worker seen in 3 of the last 4 minutes -> 75 %.
    for minutes_ago in (3, 2, 0):
        UptimeMinute.objects.create(minute=now - timedelta(minutes=minutes_ago))
    owner = UserFactory()
    complete = _job(owner, "succeeded", finished_at=timezone.now())
    JobEvent.objects.create(job=complete, kind="created", to_status="queued")
    JobEvent.objects.create(job=complete, kind="succeeded", to_status="succeeded")
    _job(owner, "failed", finished_at=timezone.now())  # no event log: not covered
    _job(owner, "queued", created_at=timezone.now() - timedelta(days=2))  # not today

    body = web.get("/public/metrics").json()
    assert body["jobs_today"] == 2
    assert body["audit_coverage"] == 50.0
    assert body["uptime_rolling_7d"] == 75.0


READ_ONLY_PATHS = ["/health", "/status", "/ops/uptime", "/ops/queue_health", "/public/metrics"]
UNSAFE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("method", [*UNSAFE_METHODS, "TRACE"])
@pytest.mark.parametrize("path", READ_ONLY_PATHS)
def test_another_method_on_a_read_only_json_path_is_405_not_a_csrf_refusal(path, method, user):
    # CSRF enforced, as for any real client; a signed-in browser's session changes nothing.
    for client in (Client(enforce_csrf_checks=True), _signed_in(user)):
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
