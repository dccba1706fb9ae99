"""The one guard every automatic change asks (ARCHITECTURE.md: stabilize mode and flags).

automation_allowed(action) is False while stabilize mode is on; the held action is then recorded
(HeldAction, reason "stabilize_mode") so an operator sees what was not done. Safety actions that
protect customers do not ask it."""

from django.utils import timezone
from waffle import switch_is_active

from intelligence.models import HeldAction

STABILIZE_SWITCH = "STABILIZE_MODE"
HELD_STABILIZE = "stabilize_mode"


def stabilize_active() -> bool:
    """Whether stabilize mode is on (a waffle switch: read from the shared cache, no query once cached)."""
    return switch_is_active(STABILIZE_SWITCH)


def automation_allowed(action: str, *, detail: dict | None = None) -> bool:
    """May this automatic change be made now? When not, it is recorded as held, with the reason."""
    if not stabilize_active():
        return True
    HeldAction.objects.create(at=timezone.now(), action=action, reason=HELD_STABILIZE, detail=detail or {})
    return False
