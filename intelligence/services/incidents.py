"""The SLO watchdog and incidents (original-behaviour.md §4: breach if p99 > 200 ms, error rate >
0.5 %, availability < 99.9 %; recover after 3 breaches in 10 minutes, 30-minute cooldown).

Every 5 minutes a check reads the rollups of the last 5 finished minutes (the minute before this
one left to its rollup): request p99, the error rate (failed job runs among job runs) and
availability (the lower of: answers that were not 5xx, minutes with a live worker). Each check is
kept (SloCheck). 3 breaching checks within 10 minutes open an incident (a critical alert, its
timeline); 3 passing checks in a row resolve it.

Recovery, with INCIDENT_AUTORECOVER on and the automation guard allowing it (not under stabilize
mode), is real: intake backpressure tightens (queue_max to half of what it was) and low-priority
jobs pause (pause_low_priority) until the incident resolves, then both are restored. Each change
is an audited runtime-setting change and a timeline event; a held or skipped recovery is on the
timeline too. A recovery starts no sooner than 30 minutes after the last one ended."""

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from intelligence.models import Incident, IncidentEvent, IncidentRecovery, SloCheck
from intelligence.selectors.incidents import (
    incident_open,
    metric_window_totals,
    recovery_last_ended_at,
    slo_breaches_unassigned,
    slo_checks_latest_of,
)
from intelligence.services.alerts import alert_raise
from intelligence.services.automation import automation_allowed
from intelligence.services.flags import flag_active
from intelligence.services.runtime import runtime_setting_get, runtime_setting_set
from jobs.selectors import uptime_minute_share
from levqor.histogram import histogram_percentile

P99_MAX_MS = 200.0
ERROR_RATE_MAX_PCT = 0.5
AVAILABILITY_MIN_PCT = 99.9
CHECK_WINDOW = timedelta(minutes=5)
SETTLE = timedelta(minutes=1)  # the last minute's rollup may still be on its way
BREACHES_TO_OPEN = 3
BREACH_SPAN = timedelta(minutes=10)
# Checks run every 5 minutes give or take the scheduler's poll, so three of them may end up to a
# minute more than 10 minutes apart; four never fit in this span.
SCHEDULE_SLACK = timedelta(minutes=1)
PASSES_TO_RESOLVE = 3
RECOVERY_COOLDOWN = timedelta(minutes=30)
QUEUE_MAX_FACTOR = 0.5
QUEUE_MAX_FLOOR = 10
AUTORECOVER_FLAG = "INCIDENT_AUTORECOVER"
AUTORECOVER_ACTION = "incident.autorecover"


def slo_measure(*, start: datetime, end: datetime) -> dict:
    """The SLO figures of the rollups in [start, end), and which objectives they breach."""
    requests = metric_window_totals("http.request", start=start, end=end)
    runs = metric_window_totals("job.run", start=start, end=end)
    p99 = histogram_percentile(requests["histogram"], 99)
    error_rate = 100.0 * runs["errors"] / runs["count"] if runs["count"] else None
    # (count - errors) / count, not 1 - errors / count: exactly 99.9 at 1 in 1000, never 99.8999...
    request_availability = (100.0 * (requests["count"] - requests["errors"]) / requests["count"]
                            if requests["count"] else None)
    worker_availability = uptime_minute_share(start=start, end=end)
    availability = [value for value in (request_availability, worker_availability) if value is not None]
    breaches = []
    if p99 is not None and p99 > P99_MAX_MS:
        breaches.append("p99")
    if error_rate is not None and error_rate > ERROR_RATE_MAX_PCT:
        breaches.append("error_rate")
    if availability and min(availability) < AVAILABILITY_MIN_PCT:
        breaches.append("availability")
    return {"requests": requests["count"], "server_errors": requests["errors"], "p99_ms": p99,
            "job_runs": runs["count"], "job_failures": runs["errors"], "error_rate_pct": _rounded(error_rate),
            "request_availability_pct": _rounded(request_availability),
            "worker_availability_pct": _rounded(worker_availability), "breaches": breaches, "passed": not breaches}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def slo_check_describe(check: SloCheck) -> str:
    """What a check saw, in an operator's words."""
    parts = []
    if check.p99_ms is not None:
        parts.append(f"p99 {check.p99_ms:.0f} ms" + (f" > {P99_MAX_MS:.0f} ms" if "p99" in check.breaches else ""))
    if check.error_rate_pct is not None:
        parts.append(f"error rate {check.error_rate_pct:.2f} % ({check.job_failures}/{check.job_runs} job runs failed)"
                     + (f" > {ERROR_RATE_MAX_PCT} %" if "error_rate" in check.breaches else ""))
    availability = [f"{name} {value:.2f} %" for name, value in (("requests", check.request_availability_pct),
                                                                 ("worker", check.worker_availability_pct))
                    if value is not None]
    if availability:
        parts.append("availability " + ", ".join(availability)
                     + (f" < {AVAILABILITY_MIN_PCT} %" if "availability" in check.breaches else ""))
    seen = "; ".join(parts) or "no traffic, no jobs, no worker record"
    verdict = "passed" if check.passed else "breached " + ", ".join(check.breaches)
    return f"{check.window_start:%H:%M}-{check.window_end:%H:%M} UTC {verdict}: {seen}"


def _check_data(check: SloCheck) -> dict:
    return {"check": check.pk, "window_end": check.window_end.isoformat(), "p99_ms": check.p99_ms,
            "error_rate_pct": check.error_rate_pct, "request_availability_pct": check.request_availability_pct,
            "worker_availability_pct": check.worker_availability_pct, "breaches": check.breaches}


def _event(incident: Incident, kind: str, message: str, *, at: datetime, data: dict | None = None) -> None:
    IncidentEvent.objects.create(incident=incident, at=at, kind=kind, message=message, data=data or {})


def slo_watchdog_run(*, now: datetime | None = None) -> SloCheck | None:
    """Check the last 5 finished minutes against the SLO, keep the check, and open, follow or
    resolve the incident. None when this window was checked already."""
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0) - SETTLE
    start = end - CHECK_WINDOW
    with transaction.atomic():
        incident = incident_open()
        try:
            with transaction.atomic():
                check = SloCheck.objects.create(window_start=start, window_end=end, at=now, incident=incident,
                                                **slo_measure(start=start, end=end))
        except IntegrityError:  # this window was checked already (unique window_end)
            return None
        if incident is None:
            breaches = [] if check.passed else list(slo_breaches_unassigned(since=end - BREACH_SPAN - SCHEDULE_SLACK))
            if len(breaches) >= BREACHES_TO_OPEN:
                _incident_open(breaches, now=now)
        elif check.passed:
            _event(incident, "check_passed", slo_check_describe(check), at=now, data=_check_data(check))
            latest = slo_checks_latest_of(incident, limit=PASSES_TO_RESOLVE)
            if len(latest) == PASSES_TO_RESOLVE and all(each.passed for each in latest):
                _incident_resolve(incident, now=now)
        else:
            _event(incident, "breach", slo_check_describe(check), at=now, data=_check_data(check))
            _recovery_attempt(incident, now=now)
    return check


def _incident_open(breaches: list[SloCheck], *, now: datetime) -> Incident:
    objectives = sorted({name for check in breaches for name in check.breaches})
    title = f"SLO breached: {', '.join(objectives)} ({len(breaches)} checks within 10 minutes)"
    incident = Incident.objects.create(opened_at=now, title=title)
    SloCheck.objects.filter(pk__in=[check.pk for check in breaches]).update(incident=incident)
    for check in breaches:
        _event(incident, "breach", slo_check_describe(check), at=check.at, data=_check_data(check))
    incident.alert = alert_raise(
        source="slo", severity="critical", dedup_key=f"slo-incident:{incident.pk}",
        title=f"Incident #{incident.pk}: {title}",
        body="\n".join(slo_check_describe(check) for check in breaches))
    incident.save(update_fields=["alert"])
    _event(incident, "opened", f"{len(breaches)} breaching checks within 10 minutes: incident opened, "
                               f"critical alert #{incident.alert.pk} raised.", at=now)
    _recovery_attempt(incident, now=now)
    return incident


def _incident_resolve(incident: Incident, *, now: datetime) -> None:
    incident.status = Incident.Status.RESOLVED
    incident.resolved_at = now
    incident.save(update_fields=["status", "resolved_at"])
    recovery = IncidentRecovery.objects.filter(incident=incident).first()
    if recovery is not None and recovery.state == IncidentRecovery.State.ACTIVE:
        _recovery_restore(incident, recovery, now=now)
    _event(incident, "resolved", f"{PASSES_TO_RESOLVE} passing checks in a row: incident resolved.", at=now)
    alert_raise(source="slo", severity="info", dedup_key=f"slo-incident-resolved:{incident.pk}",
                title=f"Incident #{incident.pk} resolved", body=f"{incident.title}: resolved at {now:%Y-%m-%d %H:%M} UTC.")


def _recovery_attempt(incident: Incident, *, now: datetime) -> None:
    """Start automatic recovery for an open incident if it may start now; otherwise put on the
    timeline why not (once per reason)."""
    recovery = IncidentRecovery.objects.filter(incident=incident).first()
    if recovery is not None and recovery.state == IncidentRecovery.State.ACTIVE:
        return
    last_ended = recovery_last_ended_at()
    if not flag_active(AUTORECOVER_FLAG):
        state, kind = IncidentRecovery.State.OFF, "recovery_off"
        message = f"{AUTORECOVER_FLAG} is off: no automatic recovery, nothing changed."
    elif last_ended is not None and now < last_ended + RECOVERY_COOLDOWN:
        state, kind = IncidentRecovery.State.COOLDOWN, "cooldown"
        message = (f"The last recovery ended at {last_ended:%H:%M} UTC: none starts before "
                   f"{last_ended + RECOVERY_COOLDOWN:%H:%M} UTC (30-minute cooldown); nothing changed.")
    elif not automation_allowed(AUTORECOVER_ACTION, detail={"incident": incident.pk}):
        state, kind = IncidentRecovery.State.HELD, "held"
        message = "Automatic recovery held: stabilize mode is on (recorded as a held action); nothing changed."
    else:
        recovery = recovery or IncidentRecovery(incident=incident)
        recovery.state, recovery.started_at, recovery.ended_at = IncidentRecovery.State.ACTIVE, now, None
        recovery.changes = _recovery_apply(incident, now=now)
        recovery.save()
        return
    if recovery is None or recovery.state != state:
        IncidentRecovery.objects.update_or_create(incident=incident, defaults={"state": state})
        _event(incident, kind, message, at=now)


def _recovery_apply(incident: Incident, *, now: datetime) -> dict:
    """Tighten intake backpressure and pause low-priority jobs; what was changed, to restore."""
    queue_max = max(QUEUE_MAX_FLOOR, int(runtime_setting_get("queue_max") * QUEUE_MAX_FACTOR))
    changes = {}
    for name, value, why in (("queue_max", queue_max, "tighten intake backpressure"),
                             ("pause_low_priority", True, "pause low-priority jobs")):
        change = runtime_setting_set(name, value, source="incident",
                                     reason=f"Incident #{incident.pk}: {why} until it resolves")
        if change is None:
            _event(incident, "recovery", f"{why}: {name} was {value} already, left as is.", at=now)
            continue
        changes[name] = {"before": change.old_value, "set": change.new_value}
        _event(incident, "recovery", f"{why}: {name} {change.old_value} -> {change.new_value} (audited).", at=now,
               data={"setting": name, "before": change.old_value, "set": change.new_value, "change": change.pk})
    return changes


def _recovery_restore(incident: Incident, recovery: IncidentRecovery, *, now: datetime) -> None:
    """Put back what recovery changed, unless someone has changed it since (then it is theirs)."""
    for name, change in recovery.changes.items():
        current = runtime_setting_get(name)
        if current != change["set"]:
            _event(incident, "restore_skipped", f"{name} is {current}, no longer the {change['set']} recovery set: "
                                                f"changed since, left as is.", at=now)
            continue
        done = runtime_setting_set(name, change["before"], source="incident",
                                   reason=f"Incident #{incident.pk} resolved: restore {name}")
        _event(incident, "restored", f"{name} {change['set']} -> {change['before']} restored (audited).", at=now,
               data={"setting": name, "restored": change["before"], "change": done.pk if done else None})
    recovery.state, recovery.ended_at = IncidentRecovery.State.RESTORED, now
    recovery.save(update_fields=["state", "ended_at"])
