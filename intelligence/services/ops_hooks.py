"""What the back-office tells the layers below it (levqor.ops_state), registered from
IntelligenceConfig.ready(): whether workers leave low-priority jobs waiting, and intake's queue
limit. Both answer from memory or the cache (runtime settings, the stabilize state): no query
per claim or per intake."""

from django.conf import settings

from intelligence.services.runtime import runtime_setting_get
from intelligence.services.stabilize import stabilize_state


def low_priority_paused() -> bool:
    """Low-priority jobs wait: the runtime setting pause_low_priority is on (incident recovery, an
    operator), or stabilize mode is on and STABILIZE_PAUSE_LOW_PRIORITY says it pauses them."""
    if runtime_setting_get("pause_low_priority"):
        return True
    return bool(settings.STABILIZE_PAUSE_LOW_PRIORITY and stabilize_state()["enabled"])


def intake_queue_max() -> int:
    """Due, queued jobs beyond which intake refuses new ones: the runtime setting queue_max."""
    return runtime_setting_get("queue_max")


def ops_hooks_register() -> None:
    from levqor import ops_state

    ops_state.register_low_priority_paused(low_priority_paused)
    ops_state.register_intake_queue_max(intake_queue_max)
    # queue_max is read on every intake's path: on Redis its read rides in the counters' round trip.
    from intelligence.services.runtime import pipeline_rider
    from levqor.counters import pipeline_rider_register

    pipeline_rider_register(pipeline_rider)
