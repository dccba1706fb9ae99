"""API calls counted against each owner's monthly quota, and the count's durable copy (ApiUsage)."""

import contextlib
import math
from datetime import date, datetime

from django.core.cache import cache
from django.utils import timezone

from accounts.fastsql.usage import usage_row_add_one, usage_row_persist
from accounts.models import ApiKey
from accounts.quotas import Usage, month_before, month_of, month_reset_at, quota_limit, usage_cache_key
from levqor.counters import HARD_COUNTED, HARD_OVER, request_trip, trip_add_taken
from levqor.errors import AppError, ErrorCode

# How long a month's counter outlives the month, so a late reader still finds it.
USAGE_CACHE_GRACE_SECONDS = 7 * 24 * 3600
# Owner id -> the minute (epoch // 60) this process last persisted (or asked to persist) their count.
_usage_written: dict = {}


def reset() -> None:
    """Forget what this process remembers of recent writes, as a fresh process would (tests; the
    shared cache is left alone). key_auth.reset() calls it."""
    _usage_written.clear()


USAGE_WRITTEN_MARKER_SECONDS = 120


def _usage_written_key(owner_id, minute: int) -> str:
    return f"usage-written:{owner_id}:{minute}"


def usage_written_marker(owner_id, now: datetime) -> tuple[str, int] | None:
    """(key, seconds) of the marker api_usage_count would add this minute for this owner (one
    process per owner and minute writes the durable copy), or None when this process already
    asked this minute: for the request's round trip to carry (levqor.counters.count_request adds)."""
    minute = int(now.timestamp() // 60)
    if _usage_written.get(owner_id) == minute:
        return None
    return _usage_written_key(owner_id, minute), USAGE_WRITTEN_MARKER_SECONDS


def api_usage_count(*, api_key: ApiKey, now: datetime | None = None) -> Usage:
    """Count one API call by this key against its owner's monthly quota (calendar month, UTC)
    and return the month's usage, this call included. Over quota, the call is not counted and
    AppError quota_exceeded (429, Retry-After until the month resets) is raised: the caller must
    not execute the request. The call that reaches the limit exactly is allowed.

    The count is one atomic increment in the shared cache (Redis: one round trip, shared by all
    processes). The month's row in ApiUsage is its durable copy: written when the counter is
    missing (this call is counted in the row and the counter starts from it) and otherwise at
    most once a minute per owner, so a cache restart loses at most the last minute's calls.

    The request's round trip (levqor.counters.request_trip, the rate limiter's) may already have
    counted this call (or refused it over the limit, not counted) in one atomic step: then that
    count is used, and the cache is not asked again."""
    now = now or timezone.now()
    owner = api_key.owner
    month = month_of(now)
    reset_at = month_reset_at(month)
    cache_key = usage_cache_key(owner.pk, month)
    limit = quota_limit(owner.tier)
    trip = request_trip()
    if (trip is not None and trip.hard is not None and trip.hard.key == cache_key and not trip.consumed
            and trip.hard_outcome in (HARD_COUNTED, HARD_OVER)):
        trip.consumed = True
        calls = trip.hard_count
        if trip.hard_outcome == HARD_OVER:  # already taken back, atomically
            raise _quota_exceeded(tier=owner.tier, limit=trip.hard.limit, reset_at=reset_at, now=now)
    else:
        try:
            calls = cache.incr(cache_key)
        except ValueError:
            calls = _usage_seed(owner_id=owner.pk, month=month, cache_key=cache_key, now=now, reset_at=reset_at)
        if limit is not None and calls > limit:
            # A refused call is not executed, so it is not counted either.
            with contextlib.suppress(ValueError):
                cache.decr(cache_key)
            raise _quota_exceeded(tier=owner.tier, limit=limit, reset_at=reset_at, now=now)
    minute = int(now.timestamp() // 60)
    if _usage_written.get(owner.pk) != minute:
        _usage_written[owner.pk] = minute
        # One process per owner and minute writes; the others only asked the cache (or the
        # request's round trip asked for them).
        marker = _usage_written_key(owner.pk, minute)
        added = trip_add_taken(trip, marker)
        if added is None:
            added = cache.add(marker, 1, USAGE_WRITTEN_MARKER_SECONDS)
        if added:
            usage_row_persist(owner_id=owner.pk, month=month, calls=calls)
    return Usage(tier=owner.tier, calls_used=calls, calls_limit=limit, reset_at=reset_at)


def _quota_exceeded(*, tier: str, limit: int, reset_at: datetime, now: datetime) -> AppError:
    retry_after = max(1, math.ceil((reset_at - now).total_seconds()))
    return AppError(ErrorCode.QUOTA_EXCEEDED,
                    f"This account's {tier} tier allows {limit:,} API calls a month, all used. "
                    f"The quota resets at {reset_at:%Y-%m-%dT%H:%M:%SZ}.", retry_after=retry_after,
                    details={"reset_at": reset_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "calls_limit": limit, "tier": tier},
                    legacy_fields={"reset_at": reset_at.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _usage_seed(*, owner_id, month: date, cache_key: str, now: datetime, reset_at: datetime) -> int:
    """The month's counter is not in the cache (the owner's first call of the month here, or the
    cache restarted or evicted it): count this call in the month's row and start the counter
    from the row. Returns the month's calls, this one included."""
    calls = usage_row_add_one(owner_id=owner_id, month=month)
    _usage_written[owner_id] = int(now.timestamp() // 60)  # just written: no second write this minute
    timeout = int((reset_at - now).total_seconds()) + USAGE_CACHE_GRACE_SECONDS
    if not cache.add(cache_key, calls, timeout):
        # Another process seeded it first: count on from its value. (Its seed may already hold
        # this call, so a seeding race can count one call twice; never fewer.)
        calls = cache.incr(cache_key)
    # A new month: last month's final minute may not have been persisted yet.
    previous = month_before(month)
    previous_calls = cache.get(usage_cache_key(owner_id, previous))
    if previous_calls is not None:
        usage_row_persist(owner_id=owner_id, month=previous, calls=previous_calls)
    return calls
