"""Operational JSON views about jobs: queue health and public metrics (all from real data, read
by jobs.selectors)."""

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone

from jobs import selectors
from jobs.execution import worker_alive
from levqor.health import read_only_json

STALE_QUEUE_SECONDS = 300


@read_only_json
def queue_health(request):
    now = timezone.now()
    counts = selectors.job_status_counts()
    alive, detail = worker_alive()
    oldest_due = selectors.job_oldest_due_at(now=now)
    wait = (now - oldest_due).total_seconds() if oldest_due else 0.0
    expired = selectors.job_expired_lease_count(now=now)
    healthy = alive and wait < STALE_QUEUE_SECONDS and expired == 0
    return JsonResponse({
        "healthy": healthy,
        "queue_stats": {
            "queued": counts["queued"], "running": counts["running"], "completed": counts["succeeded"],
            "failed": counts["failed"], "cancelled": counts["cancelled"], "total": counts["total"],
        },
        "oldest_due_wait_seconds": round(wait, 1),
        "expired_leases": expired,
        "worker": {"alive": alive, "detail": detail},
        "timestamp": now.isoformat(),
    }, status=200)


@read_only_json
def public_metrics(request):
    now = timezone.now()
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return JsonResponse({
        "uptime_rolling_7d": selectors.uptime_rolling_7d(now=now),
        "jobs_today": selectors.job_created_count(since=start_of_day),
        "audit_coverage": selectors.audit_coverage_7d(now=now),
        "last_updated": now.isoformat(),
        "version": settings.LEVQOR_VERSION,
    })
