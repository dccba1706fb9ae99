"""The SLO watchdog and incidents: each objective at its threshold (p99 200 ms, error rate 0.5 %,
availability 99.9 % of answers and of worker minutes), an incident after 3 breaches within 10
minutes, resolved after 3 passing checks in a row, and recovery: real with INCIDENT_AUTORECOVER
(runtime settings changed, audited, then restored), held under stabilize mode, nothing without
the flag, and a 30-minute cooldown between recoveries."""

from datetime import timedelta

import pytest
from django.utils import timezone
from waffle.models import Flag, Switch

from intelligence.models import Alert, HeldAction, Incident, IncidentRecovery, RuntimeSettingChange, SloCheck
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.incidents import slo_measure, slo_watchdog_run
from intelligence.services.runtime import runtime_setting_get, runtime_setting_set
from jobs.models import UptimeMinute
from tests.intelligence.rollups import read_as, request_minute, timing_minute

pytestmark = pytest.mark.django_db


def _window(now=None):
    """The five minutes a check run at `now` (default: now) reads (the minute before that one is left
    to its rollup)."""
    end = (now or timezone.now()).replace(second=0, microsecond=0) - timedelta(minutes=1)
    return [end - timedelta(minutes=ago) for ago in range(5, 0, -1)]


def _fill(*, slow=0, failed=0, server_errors=0, worker_minutes=5, now=None):
    """Five minutes of rollups: 1000 requests at 50 ms (`slow` more at 250 ms; `server_errors`
    of the 1000 answered 5xx), 200 job runs (`failed` of them failed), a live worker in
    `worker_minutes` of them."""
    minutes = _window(now)
    for index, minute in enumerate(minutes):
        last = index == len(minutes) - 1
        request_minute(minute, [50.0] * (200 - (server_errors if last else 0)))
        timing_minute("job.run", minute, [300.0] * 40, errors=failed if last else 0, workflow="demo.flow")
        if index < worker_minutes:
            UptimeMinute.objects.create(minute=minute)
    if slow:
        request_minute(minutes[-1], [250.0] * slow, method="POST")
    if server_errors:
        request_minute(minutes[-1], [50.0] * server_errors, status_class="5xx", errors=server_errors)
    return minutes[0], minutes[-1] + timedelta(minutes=1)


def _measure(**fill):
    start, end = _fill(**fill)
    return slo_measure(start=start, end=end)


@pytest.mark.parametrize(("slow", "breaches"), [(10, []), (11, ["p99"])])
def test_p99_threshold(slow, breaches):
    figures = _measure(slow=slow)
    assert figures["breaches"] == breaches
    assert figures["p99_ms"] == (read_as(250.0) if breaches else read_as(50.0))
    assert read_as(250.0) > 200 and figures["requests"] == 1000 + slow


def test_a_p99_that_reads_200_or_less_passes():
    start, end = _fill()
    request_minute(start, [180.0] * 20, method="PUT")  # 2 % at 180 ms: the p99, read as its bucket's top
    figures = slo_measure(start=start, end=end)
    assert figures["p99_ms"] == read_as(180.0) <= 200 and figures["passed"]


@pytest.mark.parametrize(("failed", "rate", "breaches"), [(1, 0.5, []), (2, 1.0, ["error_rate"])])
def test_error_rate_breaches_above_half_a_percent_of_job_runs(failed, rate, breaches):
    figures = _measure(failed=failed)
    assert (figures["job_runs"], figures["job_failures"], figures["error_rate_pct"]) == (200, failed, rate)
    assert figures["breaches"] == breaches


@pytest.mark.parametrize(("server_errors", "availability", "breaches"), [(1, 99.9, []), (2, 99.8, ["availability"])])
def test_availability_breaches_below_99_9_percent_of_answers(server_errors, availability, breaches):
    figures = _measure(server_errors=server_errors)
    assert (figures["requests"], figures["server_errors"]) == (1000, server_errors)
    assert figures["request_availability_pct"] == availability and figures["breaches"] == breaches


def test_availability_breaches_when_a_minute_had_no_live_worker():
    figures = _measure(worker_minutes=4)
    assert (figures["worker_availability_pct"], figures["request_availability_pct"]) == (80.0, 100.0)
    assert figures["breaches"] == ["availability"]


def test_no_traffic_no_jobs_no_worker_record_is_no_breach():
    end = _window()[-1] + timedelta(minutes=1)
    figures = slo_measure(start=end - timedelta(minutes=5), end=end)
    assert figures["passed"] and figures["p99_ms"] is None and figures["error_rate_pct"] is None
    assert figures["worker_availability_pct"] is None


@pytest.fixture
def watchdog(clock, django_capture_on_commit_callbacks):
    """Run a check now on fresh rollups (breaching by **fill), then move the clock 5 minutes on.
    Commit callbacks run, as they do after the watchdog's transaction (runtime settings' cache).
    The rollups and the check are for one instant: a minute that begins between the two (a slow
    moment of a busy machine) would move the check's window off the rollups."""

    def run(*, then=300, **fill):
        now = timezone.now()
        _fill(now=now, **fill)
        with django_capture_on_commit_callbacks(execute=True):
            check = slo_watchdog_run(now=now)
        clock.advance(then)
        return check

    run.clock = clock
    return run


def _timeline(incident):
    return [event.kind for event in incident.events.all()]


def test_three_breaches_within_10_minutes_open_an_incident_and_three_passes_resolve_it(watchdog):
    assert watchdog(slow=50).passed is False and watchdog(failed=5).passed is False
    assert not Incident.objects.exists()
    third = watchdog(slow=50, server_errors=5)
    incident = Incident.objects.get()
    assert incident.status == "open" and "p99" in incident.title and "error_rate" in incident.title
    third.refresh_from_db()
    assert third.incident == incident and incident.checks.count() == 3
    assert incident.alert.severity == "critical" and incident.alert.source == "slo"
    assert _timeline(incident) == ["breach", "breach", "breach", "opened", "recovery_off"]
    assert "p99" in incident.events.first().message and "> 200 ms" in incident.events.first().message

    watchdog(), watchdog()
    assert Incident.objects.get().status == "open"
    watchdog(slow=50)  # a breach while open: the passes start again
    watchdog(), watchdog()
    assert Incident.objects.get().status == "open"
    watchdog()
    incident.refresh_from_db()
    assert (incident.status, incident.resolved_at is not None) == ("resolved", True)
    assert _timeline(incident)[-7:] == ["check_passed", "check_passed", "breach", "check_passed", "check_passed",
                                        "check_passed", "resolved"]
    assert Alert.objects.filter(source="slo", severity="info", title__contains="resolved").exists()
    assert not RuntimeSettingChange.objects.exists()  # the flag is off: nothing was changed


def test_breaches_further_apart_than_10_minutes_open_nothing(watchdog):
    watchdog(slow=50), watchdog(), watchdog(slow=50), watchdog(slow=50)  # 3 breaches, a pass among them
    assert not Incident.objects.exists()
    watchdog(slow=50)
    assert Incident.objects.count() == 1


def test_three_breaches_12_minutes_apart_open_nothing(watchdog):
    watchdog(slow=50, then=360), watchdog(slow=50, then=360), watchdog(slow=50, then=360)
    assert SloCheck.objects.filter(passed=False).count() == 3 and not Incident.objects.exists()


def test_each_window_is_checked_once():
    _fill(slow=50)
    assert slo_watchdog_run() is not None
    assert slo_watchdog_run() is None
    assert SloCheck.objects.count() == 1


def _flag_on(name, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # waffle clears its cache on commit
        Flag.objects.update_or_create(name=name, defaults={"everyone": True})


def _incident_by_three_breaches(watchdog):
    for _ in range(3):
        watchdog(slow=50)
    return Incident.objects.get(status="open")


def test_autorecovery_tightens_intake_and_pauses_low_priority_until_resolved_then_restores(
        watchdog, django_capture_on_commit_callbacks):
    _flag_on("INCIDENT_AUTORECOVER", django_capture_on_commit_callbacks)
    incident = _incident_by_three_breaches(watchdog)
    assert (runtime_setting_get("queue_max"), runtime_setting_get("pause_low_priority")) == (2500, True)
    changes = RuntimeSettingChange.objects.order_by("at", "pk")
    assert [(c.name, c.old_value, c.new_value, c.source, c.actor) for c in changes] == [
        ("queue_max", 5000, 2500, "incident", None), ("pause_low_priority", False, True, "incident", None)]
    assert all(f"Incident #{incident.pk}" in change.reason for change in changes)
    assert _timeline(incident)[-3:] == ["opened", "recovery", "recovery"]
    assert incident.recovery.state == "active"

    watchdog(slow=50)  # still breaching: recovery is on already, nothing more changes
    assert RuntimeSettingChange.objects.count() == 2
    watchdog(), watchdog(), watchdog()
    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert (runtime_setting_get("queue_max"), runtime_setting_get("pause_low_priority")) == (5000, False)
    restored = RuntimeSettingChange.objects.order_by("at", "pk")[2:]
    assert [(c.name, c.old_value, c.new_value, c.source) for c in restored] == [
        ("queue_max", 2500, 5000, "incident"), ("pause_low_priority", True, False, "incident")]
    assert _timeline(incident)[-3:] == ["restored", "restored", "resolved"]
    assert IncidentRecovery.objects.get().state == "restored"


def test_a_setting_changed_by_an_operator_during_recovery_is_left_as_they_set_it(
        watchdog, django_capture_on_commit_callbacks, user):
    _flag_on("INCIDENT_AUTORECOVER", django_capture_on_commit_callbacks)
    incident = _incident_by_three_breaches(watchdog)
    with django_capture_on_commit_callbacks(execute=True):
        runtime_setting_set("queue_max", 100, actor=user, source="admin", reason="drain harder")
    watchdog(), watchdog(), watchdog()
    assert (runtime_setting_get("queue_max"), runtime_setting_get("pause_low_priority")) == (100, False)
    assert "restore_skipped" in _timeline(incident) and "restored" in _timeline(incident)


def test_autorecovery_is_held_under_stabilize_mode(watchdog, django_capture_on_commit_callbacks):
    _flag_on("INCIDENT_AUTORECOVER", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": True})
    incident = _incident_by_three_breaches(watchdog)
    assert _timeline(incident)[-2:] == ["opened", "held"]
    assert "stabilize" in incident.events.last().message
    held = HeldAction.objects.get()
    assert (held.action, held.reason, held.detail) == ("incident.autorecover", "stabilize_mode", {"incident": incident.pk})
    assert not RuntimeSettingChange.objects.exists()
    assert runtime_setting_get("queue_max") == 5000 and runtime_setting_get("pause_low_priority") is False

    # Stabilize mode off while the incident is still breaching: recovery goes ahead.
    with django_capture_on_commit_callbacks(execute=True):
        Switch.objects.filter(name=STABILIZE_SWITCH).update(active=False)
        Switch.objects.get(name=STABILIZE_SWITCH).save()
    watchdog(slow=50)
    assert runtime_setting_get("queue_max") == 2500 and _timeline(incident)[-2:] == ["recovery", "recovery"]


def test_without_the_flag_nothing_is_changed_and_the_timeline_says_so(watchdog):
    incident = _incident_by_three_breaches(watchdog)
    watchdog(slow=50)
    assert _timeline(incident) == ["breach", "breach", "breach", "opened", "recovery_off", "breach"]
    assert "INCIDENT_AUTORECOVER is off" in incident.events.get(kind="recovery_off").message
    assert not RuntimeSettingChange.objects.exists() and not HeldAction.objects.exists()
    assert IncidentRecovery.objects.get().state == "off"


def test_no_recovery_within_30_minutes_of_the_last_one(watchdog, django_capture_on_commit_callbacks):
    _flag_on("INCIDENT_AUTORECOVER", django_capture_on_commit_callbacks)
    first = _incident_by_three_breaches(watchdog)
    watchdog(), watchdog()
    watchdog()  # third pass: resolved, settings restored (the recovery ended now)
    first.refresh_from_db()
    ended = first.recovery.ended_at
    second = _incident_by_three_breaches(watchdog)  # opened 15 minutes after the recovery ended
    assert second.pk != first.pk and second.recovery.state == "cooldown"
    assert _timeline(second)[-2:] == ["opened", "cooldown"]
    assert runtime_setting_get("queue_max") == 5000 and RuntimeSettingChange.objects.count() == 4
    watchdog(slow=50), watchdog(slow=50)  # 20 and 25 minutes after: still cooling down
    assert RuntimeSettingChange.objects.count() == 4 and _timeline(second).count("cooldown") == 1
    assert timedelta(minutes=30) <= timezone.now() - ended < timedelta(minutes=31)
    watchdog(slow=50)  # 30 minutes after: recovery starts
    second.recovery.refresh_from_db()
    assert second.recovery.state == "active" and runtime_setting_get("queue_max") == 2500
