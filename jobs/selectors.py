"""Reads of jobs that more than one caller needs."""

from django.db.models import Count, Q, QuerySet

from jobs.models import Job


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
