"""Reads of jobs that more than one caller needs, and the figures of the ops views."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum

from jobs.models import Job, JobEvent, UptimeMinute


def job_list_for(owner, *, livemode: bool, status: str | None = None, workflow: str | None = None) -> QuerySet:
    jobs = Job.objects.filter(owner=owner, livemode=livemode)
    if status:
        jobs = jobs.filter(status=status)
    if workflow:
        jobs = jobs.filter(workflow=workflow)
    return jobs


def job_get_for(owner, *, livemode: bool | None, job_id, fields: tuple[str, ...] = ()) -> Job | None:
    """The job if this owner (in this mode; either, with livemode None) may see it; None
    otherwise, so callers answer 404. fields limits the columns loaded (a status poll need not
    fetch a 200 KiB payload)."""
    jobs = Job.objects.filter(pk=job_id, owner=owner)
    if livemode is not None:
        jobs = jobs.filter(livemode=livemode)
    if fields:
        jobs = jobs.only(*fields)
    return jobs.first()


def job_status_counts() -> dict[str, int]:
    """How many jobs are in each state, in one aggregate query."""
    counts = Job.objects.aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in Job.Status.values}, total=Count("pk"))
    return counts


def job_export_for(owner) -> QuerySet:
    """Every job of the owner, in both modes, oldest first, with its event log prefetched (data export)."""
    return Job.objects.filter(owner=owner).order_by("created_at", "id").prefetch_related("events")


# --- operations: queue health and public metrics ------------------------------------------------

def job_oldest_due_at(*, now: datetime) -> datetime | None:
    """When the queued job that has waited longest since it became due became due; None when none waits."""
    return (Job.objects.filter(status=Job.Status.QUEUED, next_attempt_at__lte=now)
            .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first())


def job_due_count(*, now: datetime) -> int:
    """Queued jobs that are due (their next attempt's time has come): the queue's depth."""
    return Job.objects.filter(status=Job.Status.QUEUED, next_attempt_at__lte=now).count()


def job_live_run_cost(*, start: datetime, end: datetime | None = None) -> tuple[Decimal, int]:
    """(USD, jobs): what live jobs' runs that ended in [start, end) cost, each run counted on the
    moment it ended (a retried job's earlier runs on their own days, never again when the retry
    ends), and how many jobs those runs were of. Test-mode jobs spend nothing real. One aggregate
    query by the jobevent_run_cost_at index."""
    runs = JobEvent.objects.filter(cost__isnull=False, at__gte=start, job__livemode=True)
    if end is not None:
        runs = runs.filter(at__lt=end)
    found = runs.aggregate(total=Sum("cost"), jobs=Count("job_id", distinct=True))
    return Decimal(found["total"] or 0).quantize(Decimal("0.000001")), found["jobs"]


def job_live_spend_since(*, since: datetime) -> Decimal:
    """What live jobs cost (USD) since `since`: the runs that ended since then (job_live_run_cost),
    and of those running now this run's estimate (its actual cost is known when it ends; their
    earlier runs are among the ended ones). Two aggregate queries (the runs by
    jobevent_run_cost_at, the running jobs by job_lease)."""
    ended, _ = job_live_run_cost(start=since)
    running = Job.objects.filter(status=Job.Status.RUNNING, livemode=True).aggregate(
        total=Sum("estimated_cost"))["total"]
    return (ended + Decimal(running or 0)).quantize(Decimal("0.000001"))  # the cost columns' places, on every database


def job_expired_lease_count(*, now: datetime) -> int:
    """Running jobs whose lease ran out (their worker died; the reaper re-queues them)."""
    return Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now).count()


def job_created_count(*, since: datetime) -> int:
    return Job.objects.filter(created_at__gte=since).count()


def uptime_rolling_7d(*, now: datetime) -> float | None:
    """Share of the finished minutes of the last 7 days (or since records began) in which a
    worker's reaper ran; None before the first such minute. The minute in progress is left out:
    until the reaper has run in it, it has no row, and counting it would read as downtime."""
    end = now.replace(second=0, microsecond=0)  # the minute in progress starts here
    share = uptime_minute_share(start=end - timedelta(days=7), end=end)
    return None if share is None else round(share, 2)


def uptime_minute_share(*, start: datetime, end: datetime) -> float | None:
    """Share (%) of the minutes in [start, end), both on minute boundaries, in which a worker's
    reaper ran, counted from the first such minute ever; None before it (no worker has ever run)."""
    first = (UptimeMinute.objects.filter(minute__lt=end).order_by("minute")
             .values_list("minute", flat=True).first())
    if first is None:
        return None
    start = max(start, first.replace(second=0, microsecond=0))
    minutes = (end - start) // timedelta(minutes=1)
    seen = UptimeMinute.objects.filter(minute__gte=start, minute__lt=end).count()
    return min(100.0, 100.0 * seen / minutes)


def audit_coverage_7d(*, now: datetime) -> float | None:
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
