"""Seeding the growth funnel with events on chosen days, for the aggregate, admin and browser tests."""

import uuid
from datetime import UTC, date, datetime, time, timedelta

from accounts.models import TierChange, User
from intelligence.models import GrowthEvent, LedgerEntry
from tests.factories import UserFactory


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def signed_up(source: str, day: date, *, created: date | None = None, campaign: str = "", medium: str = "") -> User:
    """A user whose signup event is on `day` under `source` (the account created on `created`,
    default the signup day)."""
    user = UserFactory()
    User.objects.filter(pk=user.pk).update(created_at=at(created or day, 9))
    GrowthEvent.objects.filter(user=user, kind="signup").update(day=day, at=at(day), source=source,
                                                                campaign=campaign, medium=medium)
    return user


def visit(source: str, day: date, *, visitor: str | None = None) -> None:
    GrowthEvent.objects.create(kind="visit", visitor=visitor or str(uuid.uuid4()), day=day, at=at(day), source=source)


def active(user: User, *days: date) -> None:
    for day in days:
        GrowthEvent.objects.create(kind="active", user=user, day=day, at=at(day))


def paid(user: User, day: date) -> None:
    source = GrowthEvent.objects.get(user=user, kind="signup").source
    GrowthEvent.objects.create(kind="paid", user=user, day=day, at=at(day), source=source)


def revenue(user: User | None, day: date, amount_minor: int, currency: str = "USD") -> None:
    LedgerEntry.objects.create(day=day, kind="revenue", amount_minor=amount_minor, currency=currency, user=user,
                               source=f"test:{uuid.uuid4()}")


def tier_moved(user: User, old: str, new: str, moment: datetime) -> None:
    TierChange.objects.create(user=user, old_tier=old, new_tier=new, reason="test", source="test", at=moment)


def a_month_of_growth(today: date) -> dict:
    """Thirty days of a small funnel ending yesterday, for the pages: visits, signups, a few paying
    users and their revenue, and active users every day. Returns the users by name."""
    first = today - timedelta(days=30)
    users = {}
    for n in range(30):
        day = first + timedelta(days=n)
        for k in range(3 + n % 4):
            visit("newsletter" if k % 3 == 0 else "google.com" if k % 3 == 1 else "direct", day)
        if n % 3 == 0:
            users[f"u{n}"] = signed_up("newsletter" if n % 2 else "google.com", day)
    for n, (_, user) in enumerate(sorted(users.items())):
        signup_day = GrowthEvent.objects.get(user=user, kind="signup").day
        # Some stay a week, some two or three, some the whole time: the triangle fades.
        stays = (today - signup_day).days if n % 4 == 3 else 7 * (1 + n % 4)
        last = min(today, signup_day + timedelta(days=stays))
        active(user, *[signup_day + timedelta(days=d) for d in range(0, (last - signup_day).days, 1 + n % 3)])
        if n % 3 == 0:
            paid(user, signup_day + timedelta(days=1))
            revenue(user, signup_day + timedelta(days=1), 1900)
            User.objects.filter(pk=user.pk).update(tier="pro")
            tier_moved(user, "sandbox", "pro", at(signup_day + timedelta(days=1), 15))
    return users
