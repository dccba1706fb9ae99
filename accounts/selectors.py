"""Reads on users and their API usage."""

from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from accounts.models import ApiUsage, User
from accounts.quotas import Usage, month_of, month_reset_at, quota_limit, usage_cache_key


def api_usage_for(owner: User, *, now: datetime | None = None) -> Usage:
    """The owner's API calls this calendar month (UTC) and their quota, without counting a call:
    the shared counter when the cache has it, else the month's persisted row."""
    now = now or timezone.now()
    month = month_of(now)
    calls = cache.get(usage_cache_key(owner.pk, month))
    if calls is None:
        calls = ApiUsage.objects.filter(owner=owner, month=month).values_list("calls", flat=True).first() or 0
    return Usage(tier=owner.tier, calls_used=calls, calls_limit=quota_limit(owner.tier), reset_at=month_reset_at(month))
