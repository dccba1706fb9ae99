"""Helpers for the live-metrics tests (tests/levqor/test_metrics.py, tests/intelligence/test_metrics*.py):
a clock stopped at a chosen instant, and what the shared store holds. A test module gets the clock
by importing frozen_clock_fixture (it is then the fixture "frozen_clock")."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from levqor import metrics

# Ten seconds into a minute, so a test's own requests never straddle a minute boundary.
START = datetime(2026, 3, 2, 9, 15, 10, tzinfo=UTC)


@pytest.fixture(name="frozen_clock")
def frozen_clock_fixture(monkeypatch):
    """Django's clock (which levqor.metrics reads) stopped at START; clock.advance(seconds) moves it."""
    now = [START]

    class Clock:
        @property
        def now(self) -> datetime:
            return now[0]

        @property
        def minute(self) -> datetime:
            return now[0].replace(second=0, microsecond=0)

        def advance(self, seconds: float) -> None:
            now[0] += timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return Clock()


ON_REDIS = bool(settings.REDIS_URL)


def redis_store_groups(*, before: datetime) -> list[metrics.MetricGroup]:
    """Claim, read and release what the Redis store holds for minutes before `before`."""
    groups = []
    for claim in metrics.metrics_claim_finished(before=int(before.timestamp())):
        groups += metrics.metrics_claim_read(claim)
        metrics.metrics_claim_release(claim)
    return groups


def held(series: str) -> dict[str, metrics.MetricGroup]:
    """This process's unsent figures of a series, by labels key (one minute's worth expected)."""
    found = {}
    for group in metrics.metrics_held():
        if group.series == series:
            assert group.labels_key not in found, "figures of more than one minute"
            found[group.labels_key] = group
    return found


def exact_percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q / 100) - 1)]
