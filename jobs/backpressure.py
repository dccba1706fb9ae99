"""Intake backpressure: while more due jobs wait in the queue than the operations limit allows
(levqor.ops_state.intake_queue_max, the runtime setting queue_max), intake refuses new jobs with
503 queue_full and Retry-After instead of letting the backlog grow.

Intake is the hottest path, so the count is not taken per request: each process counts at most
once per REFRESH_SECONDS (a COUNT bounded by the limit, so a huge backlog costs no more than the
limit) and reads the limit at the same moment; between refreshes a check is a comparison in memory."""

import time

from django.conf import settings
from django.utils import timezone

from jobs.models import Job
from levqor import ops_state
from levqor.errors import AppError, ErrorCode

REFRESH_SECONDS = 1.0
_monotonic = time.monotonic  # tests move it
# (when counted, the limit then, due jobs counted up to limit + 1); one tuple, replaced whole.
_state: tuple[float, int | None, int] | None = None


def due_queued_count(*, limit: int, now=None) -> int:
    """Queued jobs whose time has come, counted up to limit + 1 (enough to know it is exceeded)."""
    due = Job.objects.filter(status=Job.Status.QUEUED, next_attempt_at__lte=now or timezone.now())
    return due[: limit + 1].count()


def intake_capacity_check() -> None:
    """Raise AppError queue_full (503, Retry-After) while due, queued jobs exceed the limit."""
    global _state
    state = _state
    now = _monotonic()
    if state is None or now - state[0] >= REFRESH_SECONDS:
        limit = ops_state.intake_queue_max()
        state = _state = (now, limit, 0 if limit is None else due_queued_count(limit=limit))
    _, limit, due = state
    if limit is not None and due > limit:
        retry_after = settings.QUEUE_FULL_RETRY_AFTER_SECONDS
        raise AppError(ErrorCode.QUEUE_FULL, f"Too many jobs are waiting to run; try again in {retry_after} seconds.",
                       details={"retry_after_seconds": retry_after}, retry_after=retry_after)


def reset() -> None:
    """Forget this process's count (tests; a fresh process)."""
    global _state
    _state = None
