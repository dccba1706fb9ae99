"""Auto-tune (original-behaviour.md §4): from the last 24 hours of rollups, suggest

- p95_target = clamp(int(observed request p95 · 0.8), 40, 150) ms, and
- queue_max = max(10, int(observed queue-depth p95 · 3)) jobs (the queue.depth gauge's minutes),

each kept as a TuneSuggestion (current, suggested, delta, basis). An operator applies one in the
admin; the hourly run applies them itself while SMART_OPS_ENABLED is on, unless the automation
guard holds it (stabilize mode). Every change is an audited runtime-setting change (source
"autotune")."""

import statistics
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from intelligence.models import RuntimeSettingChange, TuneSuggestion
from intelligence.selectors.incidents import metric_gauge_per_minute, metric_window_totals, recovery_active_changes
from intelligence.services.automation import automation_allowed
from intelligence.services.flags import flag_active
from intelligence.services.runtime import runtime_setting_get, runtime_setting_set
from levqor.histogram import histogram_percentile

WINDOW = timedelta(hours=24)
P95_FACTOR, P95_MIN_MS, P95_MAX_MS = 0.8, 40, 150
QUEUE_FACTOR, QUEUE_MIN = 3, 10
SMART_OPS_FLAG = "SMART_OPS_ENABLED"
APPLY_ACTION = "autotune.apply"


def p95_target_suggest(observed_p95_ms: float) -> int:
    return min(P95_MAX_MS, max(P95_MIN_MS, int(observed_p95_ms * P95_FACTOR)))


def queue_max_suggest(observed_queue_p95: float) -> int:
    return max(QUEUE_MIN, int(observed_queue_p95 * QUEUE_FACTOR))


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile of readings, by linear interpolation between them (as numpy.percentile)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def autotune_run(*, now: datetime | None = None, may_self_apply: bool = False) -> list[TuneSuggestion]:
    """Suggest p95_target and queue_max from the last 24 hours (a setting without data there gets
    no suggestion). With may_self_apply (the hourly run) and SMART_OPS_ENABLED on, apply each
    suggestion that changes something, unless held."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    start = end - WINDOW
    window = {"from": start.isoformat(), "to": end.isoformat()}
    suggestions = []
    requests = metric_window_totals("http.request", start=start, end=end)
    observed_p95 = histogram_percentile(requests["histogram"], 95)
    if observed_p95 is not None:
        suggestions.append(_suggest("p95_target", p95_target_suggest(observed_p95), now=now, basis={
            **window, "observed_p95_ms": observed_p95, "requests": requests["count"],
            "formula": f"clamp(int(observed_p95_ms * {P95_FACTOR}), {P95_MIN_MS}, {P95_MAX_MS})"}))
    depths = metric_gauge_per_minute("queue.depth", start=start, end=end)
    if depths:
        observed_queue_p95 = round(percentile(depths, 95), 3)
        suggestions.append(_suggest("queue_max", queue_max_suggest(observed_queue_p95), now=now, basis={
            **window, "observed_queue_p95": observed_queue_p95, "minutes": len(depths),
            "formula": f"max({QUEUE_MIN}, int(observed_queue_p95 * {QUEUE_FACTOR}))"}))
    if may_self_apply and flag_active(SMART_OPS_FLAG):
        for suggestion in suggestions:
            if suggestion.delta:
                _self_apply(suggestion)
    return suggestions


def _suggest(setting: str, suggested: int, *, now: datetime, basis: dict) -> TuneSuggestion:
    current = int(runtime_setting_get(setting))
    return TuneSuggestion.objects.create(setting=setting, current=current, suggested=suggested,
                                         delta=suggested - current, basis=basis, created_at=now)


def _self_apply(suggestion: TuneSuggestion) -> None:
    if suggestion.setting in recovery_active_changes():
        suggestion.note = f"Not applied: an open incident's recovery holds {suggestion.setting}."
        suggestion.save(update_fields=["note"])
    elif not automation_allowed(APPLY_ACTION, detail={"suggestion": suggestion.pk, "setting": suggestion.setting,
                                                      "current": suggestion.current, "suggested": suggestion.suggested}):
        suggestion.held = True
        suggestion.note = "Held: stabilize mode is on."
        suggestion.save(update_fields=["held", "note"])
    else:
        tune_suggestion_apply(suggestion=suggestion, actor=None)


def tune_suggestion_apply(*, suggestion: TuneSuggestion, actor=None) -> RuntimeSettingChange | None:
    """Set the runtime setting to the suggestion, audited (source "autotune"; actor the operator,
    or nobody when SMART_OPS_ENABLED applied it). None when it was applied before, or the setting
    already had this value."""
    with transaction.atomic():
        suggestion = TuneSuggestion.objects.select_for_update().get(pk=suggestion.pk)
        if suggestion.applied_at is not None:
            return None
        basis = suggestion.basis
        observed = (f"observed p95 {basis['observed_p95_ms']} ms" if "observed_p95_ms" in basis
                    else f"observed queue p95 {basis.get('observed_queue_p95')}")
        who = "applied by an operator" if actor is not None else "applied automatically (SMART_OPS_ENABLED)"
        change = runtime_setting_set(suggestion.setting, suggestion.suggested, actor=actor, source="autotune",
                                     reason=f"Auto-tune suggestion #{suggestion.pk}, {who}: {observed} over 24 h, "
                                            f"{basis.get('formula', '')}")
        suggestion.applied_at, suggestion.applied_by = timezone.now(), actor
        suggestion.save(update_fields=["applied_at", "applied_by"])
    return change
