"""Monthly API quotas by tier: the calendar arithmetic and the shape of a usage figure. No I/O."""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.conf import settings


@dataclass(frozen=True)
class Usage:
    """An owner's API calls in the current calendar month (UTC) against their tier's quota."""

    tier: str
    calls_used: int
    calls_limit: int | None  # None = unlimited
    reset_at: datetime  # the first instant of next month, UTC

    @property
    def calls_remaining(self) -> int | None:
        return None if self.calls_limit is None else max(0, self.calls_limit - self.calls_used)

    def as_dict(self) -> dict:
        return {"calls_used": self.calls_used, "calls_limit": self.calls_limit,
                "calls_remaining": self.calls_remaining, "reset_at": self.reset_at, "tier": self.tier}


def quota_limit(tier: str) -> int | None:
    """Calls a month for this tier (None = unlimited). A tier the settings do not know gets the
    sandbox quota: an unknown value must never mean unlimited."""
    quotas = settings.API_MONTHLY_QUOTAS
    return quotas[tier] if tier in quotas else quotas["sandbox"]


def month_of(now: datetime) -> date:
    """The first day of the calendar month (UTC) that `now` falls in."""
    return now.astimezone(UTC).date().replace(day=1)


def month_reset_at(month: date) -> datetime:
    """The first instant (UTC) of the month after `month`."""
    year, next_month = (month.year + 1, 1) if month.month == 12 else (month.year, month.month + 1)
    return datetime(year, next_month, 1, tzinfo=UTC)


def month_before(month: date) -> date:
    return date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)


def usage_cache_key(owner_id, month: date) -> str:
    return f"usage:{owner_id}:{month:%Y-%m}"
