"""What the operations back-office says the layers below it must do now, without their importing it.

jobs must know whether workers leave low-priority jobs waiting (stabilize mode, incident recovery)
and how many due jobs intake lets queue up, but the back-office (intelligence) sits above jobs in
the data flow (ARCHITECTURE.md). So this module holds one provider per question, which
intelligence registers from IntelligenceConfig.ready(), as levqor.health's readiness checks are.
Without a provider the answers are the neutral ones: nothing paused, no limit.

Both are read on hot paths (every claim, every intake): a provider must answer from memory or
the cache, never with a query per call."""

from collections.abc import Callable

_low_priority_paused: Callable[[], bool] | None = None
_intake_queue_max: Callable[[], int | None] | None = None


def register_low_priority_paused(provider: Callable[[], bool] | None) -> None:
    """provider() -> whether workers must leave low-priority jobs waiting now (None unregisters)."""
    global _low_priority_paused
    _low_priority_paused = provider


def register_intake_queue_max(provider: Callable[[], int | None] | None) -> None:
    """provider() -> how many due, queued jobs intake allows before refusing, or None for no limit."""
    global _intake_queue_max
    _intake_queue_max = provider


def low_priority_paused() -> bool:
    """Whether workers must leave `low` priority jobs waiting now (they run once this is over)."""
    provider = _low_priority_paused
    return bool(provider()) if provider is not None else False


def intake_queue_max() -> int | None:
    """Due, queued jobs beyond which intake answers 503 queue_full; None: no limit."""
    provider = _intake_queue_max
    return provider() if provider is not None else None
