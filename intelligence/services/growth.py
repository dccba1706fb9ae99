"""The growth funnel's events: visits (only with consent to analytics), signups with their
attribution, the first paid tier, and active users once a day.

`growth_active_mark` is on the hot path of every API request and signed-in page: a user already
marked today costs a set lookup in this process; the first time in a process, one cache `add`
tells whether another process marked them already; only the first of all runs one INSERT, which
adds nothing if a race got there first (the unique constraint, ON CONFLICT DO NOTHING). Visits
follow the same path per visitor. reset() forgets what this process remembers (for tests).

Signups are recorded when accounts saves a new user (post_save; accounts knows nothing of us),
with the first touch of the request that created them when that request is a consenting
visitor's (GrowthMiddleware binds it), else the first referral tracked for the address
(accounts.Referral, the old referral API), else "direct"."""

import contextvars
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS
from django.db.models.constants import OnConflict
from django.utils import timezone

from accounts.models import User
from accounts.selectors import referral_first_for
from intelligence.growth_attribution import DIRECT, Attribution, Touch, touch_from_request
from intelligence.models import GrowthEvent
from intelligence.models.growth import UNATTRIBUTED
from levqor.store import STORE_DOWN

PAID_TIERS = frozenset({User.Tier.PRO, User.Tier.ENTERPRISE})
# The cache remembers a (kind, who, day) mark a little longer than the day lasts.
MARK_CACHE_SECONDS = 26 * 3600
# Past this many marks in one process and day, the memo starts over (the cache and the
# constraint still keep it once a day): a bound on memory, not on correctness.
MEMO_MAX = 100_000

_memo_day = None
_memo: set[tuple[str, object]] = set()

# The request being served by GrowthMiddleware, for the signup receiver (which only has the user).
_current_request: contextvars.ContextVar = contextvars.ContextVar("growth_request", default=None)


def reset() -> None:
    """Forget this process's marks, as a fresh process would."""
    global _memo_day
    _memo_day = None
    _memo.clear()


def growth_request_bind(request) -> contextvars.Token:
    return _current_request.set(request)


def growth_request_unbind(token: contextvars.Token) -> None:
    _current_request.reset(token)


_INSERT_FIELDS = [f for f in GrowthEvent._meta.concrete_fields if not f.primary_key]


def _insert_once(event: GrowthEvent) -> None:
    """One INSERT ... ON CONFLICT DO NOTHING (INSERT OR IGNORE on SQLite), no transaction of its
    own: a row the constraints already hold is not added, and no error is raised."""
    GrowthEvent._base_manager._insert([event], fields=_INSERT_FIELDS, on_conflict=OnConflict.IGNORE,
                                      using=DEFAULT_DB_ALIAS)


def _first_today(kind: str, who, day) -> tuple[bool, str | None]:
    """(whether this call should write the day's mark, the cache key it took). The process memo
    first, then the shared cache's add (unreachable: the write goes ahead, the constraint decides)."""
    global _memo_day
    if day != _memo_day:
        _memo.clear()
        _memo_day = day
    if (kind, who) in _memo:
        return False, None
    if len(_memo) >= MEMO_MAX:
        _memo.clear()
    _memo.add((kind, who))
    key = f"growth:{kind}:{day.isoformat()}:{who}"
    try:
        return cache.add(key, 1, MARK_CACHE_SECONDS), key
    except STORE_DOWN:
        return True, None


def _mark_once_a_day(kind: str, who, day, build: Callable[[], GrowthEvent]) -> bool:
    """The day's mark of `who`, written by the first call of all; the row is only built then (a
    model instance costs more than the whole memo check)."""
    write, key = _first_today(kind, who, day)
    if not write:
        return False
    try:
        _insert_once(build())
    except Exception:
        # Not marked after all: let the next request try again.
        _memo.discard((kind, who))
        if key:
            cache.delete(key)
        raise
    return True


def growth_active_mark(*, user_id: int, now: datetime | None = None) -> bool:
    """Record that the user was active today (UTC), once a day. True when this call wrote it."""
    now = now or timezone.now()
    day = now.date()
    return _mark_once_a_day(GrowthEvent.Kind.ACTIVE, user_id, day,
                            lambda: GrowthEvent(kind=GrowthEvent.Kind.ACTIVE, user_id=user_id, day=day, at=now))


def growth_visit_record(*, touch: Touch, user: User | None = None, now: datetime | None = None) -> bool:
    """Record a consenting visitor's visit, once a day per visitor, under this visit's own
    attribution (or their first touch when it carries none). The touch exists only with consent
    to analytics (intelligence.growth_attribution.touch_from_request). True when written."""
    now = now or timezone.now()
    where = touch.this or touch.first
    return _mark_once_a_day(GrowthEvent.Kind.VISIT, touch.visitor, now.date(), lambda: GrowthEvent(
        kind=GrowthEvent.Kind.VISIT, user_id=user.pk if user is not None else None, visitor=touch.visitor,
        day=now.date(), at=now, source=where.source, campaign=where.campaign, medium=where.medium))


def _signed_in(request) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_authenticated


def growth_signup_attribution(*, user: User) -> tuple[str, Attribution]:
    """(visitor id, first touch) of a user being created: the consenting visitor's touch when an
    anonymous visitor's request creates them (signing in by email link), else their first
    referral, else direct. An operator's request creating someone else's account lends them
    nothing of the operator's."""
    request = _current_request.get()
    if request is not None and not _signed_in(request):
        touch = touch_from_request(request)
        if touch is not None:
            return touch.visitor, touch.first
    referral = referral_first_for(email=user.email) if user.email else None
    if referral is not None:
        return "", Attribution(source=referral.source or DIRECT, campaign=referral.campaign, medium=referral.medium)
    return "", Attribution()


def growth_signup_record(*, user: User, now: datetime | None = None) -> None:
    """Record the user's signup with their attribution (once per user)."""
    now = now or timezone.now()
    visitor, first = growth_signup_attribution(user=user)
    _insert_once(GrowthEvent(kind=GrowthEvent.Kind.SIGNUP, user_id=user.pk, visitor=visitor, day=now.date(), at=now,
                             source=first.source, campaign=first.campaign, medium=first.medium))


def growth_paid_record(*, user: User, at: datetime | None = None) -> None:
    """Record the user's first paid tier (once per user ever), under their acquisition source."""
    at = at or timezone.now()
    acquired = (GrowthEvent.objects.filter(kind=GrowthEvent.Kind.SIGNUP, user=user)
                .values("source", "campaign", "medium").first()) or {"source": UNATTRIBUTED}
    _insert_once(GrowthEvent(kind=GrowthEvent.Kind.PAID, user_id=user.pk, day=at.astimezone(UTC).date(), at=at,
                             **acquired))


# --- receivers (connected in IntelligenceConfig.ready) -----------------------------------------

def user_created_record_signup(sender, instance, created=False, raw=False, **kwargs) -> None:
    """post_save of accounts.User: a new user's signup, in the transaction that creates them."""
    if created and not raw:
        growth_signup_record(user=instance, now=instance.created_at or None)


def subscription_changed_record_paid(sender, subscription=None, old_tier=None, new_tier=None, event=None,
                                     **kwargs) -> None:
    """marketplace.signals.subscription_changed: a live subscription moving its user from sandbox to
    a paid tier is their paid event (the first one only; test-mode subscriptions pay nothing)."""
    if subscription is None or not subscription.livemode:
        return
    if old_tier != User.Tier.SANDBOX or new_tier not in PAID_TIERS:
        return
    at = datetime.fromtimestamp(event.created, UTC) if event is not None and event.created else None
    growth_paid_record(user=subscription.user, at=at)


def growth_connect() -> None:
    from django.db.models.signals import post_save

    from marketplace.signals import subscription_changed

    post_save.connect(user_created_record_signup, sender=settings.AUTH_USER_MODEL,
                      dispatch_uid="intelligence.growth.signup")
    subscription_changed.connect(subscription_changed_record_paid, dispatch_uid="intelligence.growth.paid")
