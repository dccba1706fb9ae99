"""Autoscale decisions as the minute-by-minute run keeps them, made in bulk for the page's tests."""

from datetime import timedelta

from django.utils import timezone

from intelligence.models import AutoscaleDecision


def decisions_of_the_last(minutes: int) -> list[AutoscaleDecision]:
    """One decision a minute for `minutes` minutes up to now: busy at first (workers climb to 4),
    then quiet (one fewer a minute, down to 1), the last busy minute frozen. Saved."""
    now = timezone.now().replace(second=0, microsecond=0)
    rows, workers = [], 1
    freeze_at = minutes // 2 - 1  # the last busy minute
    for i in range(minutes):
        minute = now - timedelta(minutes=minutes - 1 - i)
        busy = i < minutes // 2
        previous = workers
        if i == freeze_at:
            action = "freeze"
            reason = f"Under pressure (14 jobs queued, over 10) but frozen (margin 8 % under 10 %): stays at {workers}."
        elif busy and workers < 4:
            workers += 1
            action, reason = "scale_up", f"Under pressure (p95 210 ms over 150): one more worker, {previous} -> {workers}."
        elif not busy and workers > 1:
            workers -= 1
            action = "scale_down"
            reason = f"Quiet for 2 samples (p95 22 ms, 0 queued): one worker fewer, {previous} -> {workers}."
        else:
            action, reason = "hold", f"Within bounds: holds at {workers}."
        rows.append(AutoscaleDecision(
            at=minute + timedelta(seconds=3), minute=minute, action=action, desired_workers=workers,
            previous_workers=previous, reason=reason,
            metrics={"p95_ms": 210.0 if busy else 22.0, "queue_depth": 14 if busy else 0, "workers": previous,
                     "profit_margin_pct": 8.0 if i == freeze_at else 31.5, "profit_frozen": i == freeze_at,
                     "spend_24h": "12.340000", "spend_frozen": False}))
    return AutoscaleDecision.objects.bulk_create(rows)
