"""Stabilize mode: one switch (waffle's STABILIZE_MODE) that freezes every automatic change.

stabilize_on / stabilize_off flip the switch with a reason; the change is kept in the flag audit
(FlagChange), appended as a StabilizeEvent and raised as an alert. The event and the alert come
from the flag audit's `flag_changed` signal, so the switch turned any other way (its admin page,
waffle's own command) is recorded and alerted the same.

stabilize_state() is read on hot paths (every admin page's banner, every worker's claim when
STABILIZE_PAUSE_LOW_PRIORITY is on): each process remembers it for MEMO_SECONDS, backed by the
flags' cache (levqor/settings.py: cleared on change with Redis, 5 s entries without), so no
query once cached and every process sees a change within a few seconds."""

import getpass
import socket
import time

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from waffle import get_waffle_switch_model

from intelligence.models import FlagChange, StabilizeEvent
from intelligence.services.alerts import alert_raise
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.flag_audit import flag_change_context
from levqor.errors import AppError, ErrorCode

SWITCH_NOTE = ("Stabilize mode: every automatic change (auto-tune, incident auto-recovery, pricing, discounts, "
               "autoscale) is held and recorded as held; with STABILIZE_PAUSE_LOW_PRIORITY=true workers also "
               "leave low-priority jobs waiting. Turn it with manage.py stabilize or Operations > Stabilize mode.")
MEMO_SECONDS = 1.0
CACHE_SECONDS = 5
_CACHE_KEY = "stabilize:state"
_memo: tuple[float, dict] | None = None


def _cache():
    return caches[settings.WAFFLE_CACHE_NAME]


def command_line_actor() -> str:
    """Who runs a management command, for the record when no user account is named."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return f"{who}@{socket.gethostname()} (manage.py)"


def stabilize_on(*, actor=None, actor_label: str = "", reason: str, source: str) -> StabilizeEvent | None:
    """Turn stabilize mode on: every automatic change is held from now. Audited, alerted.
    Returns the event, or None when it was already on (nothing changes)."""
    return _stabilize_set(True, actor=actor, actor_label=actor_label, reason=reason, source=source)


def stabilize_off(*, actor=None, actor_label: str = "", reason: str, source: str) -> StabilizeEvent | None:
    """Turn stabilize mode off: automatic changes are made again. Audited, alerted. Returns the
    event, or None when it was already off."""
    return _stabilize_set(False, actor=actor, actor_label=actor_label, reason=reason, source=source)


def _stabilize_set(enabled: bool, *, actor, actor_label: str, reason: str, source: str) -> StabilizeEvent | None:
    reason = (reason or "").strip()
    if not reason:
        raise AppError(ErrorCode.VALIDATION_FAILED, "A reason is required to turn stabilize mode on or off.",
                       details={"errors": [{"field": "reason", "message": "A reason is required."}]})
    switch_model = get_waffle_switch_model()
    with transaction.atomic():
        switch = switch_model.objects.select_for_update().filter(name=STABILIZE_SWITCH).first()
        if bool(switch is not None and switch.active) == enabled:
            return None  # already so (no switch at all is off)
        with flag_change_context(actor=actor, actor_label=actor_label, reason=reason, source=source) as batch:
            if switch is None:
                switch = switch_model(name=STABILIZE_SWITCH, note=SWITCH_NOTE)
            switch.active = enabled
            switch.save()
            batch.flush()  # the audit row, whose signal appends the event (below)
        return StabilizeEvent.objects.order_by("-at", "-pk").first()


def stabilize_switch_changed(sender, change: FlagChange, **kwargs) -> None:
    """flag_changed receiver: the STABILIZE_MODE switch went on or off, however it was turned:
    append the StabilizeEvent, raise the alert, and have every process read the state afresh."""
    if change.kind != FlagChange.Kind.SWITCH or change.name != STABILIZE_SWITCH:
        return
    was = bool((change.old or {}).get("active"))
    now_on = bool((change.new or {}).get("active"))
    if was == now_on:
        return  # its note changed, not its state
    event = StabilizeEvent.objects.create(at=change.at, enabled=now_on, actor=change.actor,
                                          actor_label=change.actor_label, source=change.source,
                                          reason=change.reason or "(no reason given: changed outside the admin "
                                                                  "and manage.py stabilize)")
    state = "on" if now_on else "off"
    alert_raise(source="stabilize", severity="warning" if now_on else "info", title=f"Stabilize mode {state}",
                body=f"Stabilize mode turned {state} by {event.by} ({event.source}): {event.reason}",
                dedup_key=f"stabilize:event:{event.pk}")
    _forget()
    transaction.on_commit(_forget)
    if not now_on:
        transaction.on_commit(_low_priority_resume)


def _low_priority_resume() -> None:
    """Low-priority jobs left waiting may run now: wake the workers (the reaper would within a minute)."""
    if settings.STABILIZE_PAUSE_LOW_PRIORITY:
        from jobs import dispatch

        dispatch.run_tokens_enqueue(dispatch.tokens_enough())


def _forget() -> None:
    global _memo
    _memo = None
    _cache().delete(_CACHE_KEY)


def _state_from_db() -> dict:
    switch = get_waffle_switch_model().objects.filter(name=STABILIZE_SWITCH).values_list("active", flat=True).first()
    enabled = bool(switch)
    event = StabilizeEvent.objects.select_related("actor").order_by("-at", "-pk").first()
    if event is None or event.enabled != enabled:  # turned without an event (e.g. a raw UPDATE)
        return {"enabled": enabled, "since": None, "by": None, "reason": None}
    return {"enabled": enabled, "since": event.at.isoformat(), "by": event.by, "reason": event.reason}


def stabilize_state() -> dict:
    """{"enabled", "since" (ISO 8601 UTC), "by", "reason"}: whether stabilize mode is on, and since
    when, by whom and why it is in that state (None for a state no event explains: off and never
    turned on). No query once cached."""
    global _memo
    now = time.monotonic()
    memo = _memo
    if memo is not None and now - memo[0] < MEMO_SECONDS:
        return dict(memo[1])
    cache = _cache()
    state = cache.get(_CACHE_KEY)
    if state is None:
        state = _state_from_db()
        cache.set(_CACHE_KEY, state, CACHE_SECONDS)
    _memo = (now, state)
    return dict(state)


def reset() -> None:
    """Forget this process's memo (tests; a fresh process)."""
    global _memo
    _memo = None
