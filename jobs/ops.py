"""Operational JSON views about jobs: queue health and public metrics (all from real data)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.http import JsonResponse
from django.utils import timezone

from jobs.execution import worker_alive
from jobs.models import Job, JobEvent, UptimeMinute
from jobs.selectors import job_status_counts
from levqor.health import read_only_json

STALE_QUEUE_SECONDS = 300


@read_only_json
def queue_health(request):
    now = timezone.now()
    counts = job_status_counts()
    alive, detail = worker_alive()
    oldest_due = (Job.objects.filter(status=Job.Status.QUEUED, next_attempt_at__lte=now)
                  .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())
    wait = (now - oldest_due).total_seconds() if oldest_due else 0.0
    expired = Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now).count()
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


def uptime_rolling_7d(*, now) -> float | None:
    """Share of the minutes of the last 7 days (since records began) in which a worker ran."""
    window_start = now - timedelta(days=7)
    first = UptimeMinute.objects.order_by("minute").values_list("minute", flat=True).first()
    if first is None:
        return None
    start = max(window_start, first)
    minutes = max(1, int((now - start).total_seconds() // 60) + 1)
    seen = UptimeMinute.objects.filter(minute__gte=start.replace(second=0, microsecond=0)).count()
    return round(min(100.0, 100.0 * seen / minutes), 2)


def audit_coverage_7d(*, now) -> float | None:
    """Share of jobs finished in the last 7 days whose event log holds their creation and their end."""
    finished = Job.objects.filter(status__in=Job.FINAL_STATUSES, finished_at__gte=now - timedelta(days=7))
    figures = finished.aggregate(
        total=Count("pk"),
        covered=Count("pk", filter=Q(
            Exists(JobEvent.objects.filter(job=OuterRef("pk"), kind=JobEvent.Kind.CREATED)),
            Exists(JobEvent.objects.filter(job=OuterRef("pk"), to_status=OuterRef("status"),
                                           kind__in=[JobEvent.Kind.SUCCEEDED, JobEvent.Kind.FAILED,
                                                     JobEvent.Kind.CANCELLED, JobEvent.Kind.LEASE_EXPIRED])),
        )),
    )
    if not figures["total"]:
        return None
    return round(100.0 * figures["covered"] / figures["total"], 2)


@read_only_json
def public_metrics(request):
    now = timezone.now()
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return JsonResponse({
        "uptime_rolling_7d": uptime_rolling_7d(now=now),
        "jobs_today": Job.objects.filter(created_at__gte=start_of_day).count(),
        "audit_coverage": audit_coverage_7d(now=now),
        "last_updated": now.isoformat(),
        "version": settings.LEVQOR_VERSION,
    })
