"""Ratings of a partner held by higher apps (the marketplace's listing reviews): partners may not
import them (ARCHITECTURE.md: data flows one way), so an app registers a source in its ready() and
the partner's rating_avg / rating_count (ratings.py) and the auto-suspend rule (governance.py)
count what every source reports besides the partner's own ratings."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RatingTotals:
    stars_sum: int
    count: int
    latest_at: datetime | None = None  # when the newest of them was given (the auto-suspend rule asks)
    # Who gave them (user ids): the auto-suspend rule's minimum counts people, not entries, so one
    # account reviewing three listings of a partner is one rater (governance.partner_raters_count).
    user_ids: frozenset = frozenset()


RatingSource = Callable[[object], RatingTotals]
_SOURCES: list[RatingSource] = []


def partner_rating_source_register(source: RatingSource) -> None:
    """`source(partner_id) -> RatingTotals` is counted in the partner's rating from now on (once)."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def partner_rating_source_unregister(source: RatingSource) -> None:
    if source in _SOURCES:
        _SOURCES.remove(source)


def rating_sources_totals(partner_id) -> RatingTotals:
    """What the registered sources hold for `partner_id`, added up (one query per source)."""
    stars_sum = count = 0
    latest = None
    user_ids: set = set()
    for source in _SOURCES:
        totals = source(partner_id)
        stars_sum += totals.stars_sum
        count += totals.count
        user_ids |= totals.user_ids
        if totals.latest_at is not None and (latest is None or totals.latest_at > latest):
            latest = totals.latest_at
    return RatingTotals(stars_sum=stars_sum, count=count, latest_at=latest, user_ids=frozenset(user_ids))
