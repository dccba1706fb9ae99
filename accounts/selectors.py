"""Reads on users, referrals, API keys and API usage that more than one caller needs."""

from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import ApiKey, ApiUsage, Referral, User, email_normalise
from accounts.quotas import Usage, month_of, month_reset_at, quota_limit, usage_cache_key

TOP_SOURCES_LIMIT = 10


def user_get(*, user_id) -> User | None:
    return User.objects.filter(pk=user_id).first()


def user_get_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email_normalise(email)).first()


def analytics_users(*, now=None) -> dict:
    """{"total", "new_7d", "new_30d"}: one aggregate query."""
    now = now or timezone.now()
    return User.objects.aggregate(
        total=Count("pk"),
        new_7d=Count("pk", filter=Q(created_at__gte=now - timedelta(days=7))),
        new_30d=Count("pk", filter=Q(created_at__gte=now - timedelta(days=30))),
    )


def analytics_referrals(*, now=None) -> dict:
    """{"total_7d", "total_30d", "top_sources": [{"source", "count"}]} over the last 30 days: one
    aggregate for the totals, one grouped query for the sources (most first, then by name)."""
    now = now or timezone.now()
    recent = Referral.objects.filter(created_at__gte=now - timedelta(days=30))
    totals = recent.aggregate(total_7d=Count("pk", filter=Q(created_at__gte=now - timedelta(days=7))),
                              total_30d=Count("pk"))
    top = recent.values("source").annotate(count=Count("pk")).order_by("-count", "source")[:TOP_SOURCES_LIMIT]
    return {**totals, "top_sources": list(top)}


def referral_first_for(*, email: str) -> Referral | None:
    """The first referral tracked for this address (stripped, lower-cased): a user's first touch
    when nothing else recorded one (growth's signup attribution)."""
    return Referral.objects.filter(email__iexact=email_normalise(email)).order_by("created_at", "id").first()


def api_key_list_for(owner: User) -> QuerySet[ApiKey]:
    """The owner's keys, newest first (revoked and expired ones too: the list is their history)."""
    return ApiKey.objects.filter(owner=owner).order_by("-created_at", "-id")


def api_key_get_for(owner: User, *, key_id) -> ApiKey | None:
    """One of the owner's keys; None for an unknown id or another owner's key (the API answers 404 for both)."""
    return ApiKey.objects.filter(owner=owner, pk=key_id).first()


def api_usage_for(owner: User, *, now: datetime | None = None) -> Usage:
    """The owner's API calls this calendar month (UTC) and their quota, without counting a call:
    the shared counter when the cache has it, else the month's persisted row."""
    now = now or timezone.now()
    month = month_of(now)
    calls = cache.get(usage_cache_key(owner.pk, month))
    if calls is None:
        calls = ApiUsage.objects.filter(owner=owner, month=month).values_list("calls", flat=True).first() or 0
    return Usage(tier=owner.tier, calls_used=calls, calls_limit=quota_limit(owner.tier), reset_at=month_reset_at(month))
