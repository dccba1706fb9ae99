"""Auto-tune: the reference's formulas (p95_target = clamp(int(p95 * 0.8), 40, 150), queue_max =
max(10, int(queue p95 * 3))) over the last 24 hours, suggestions an operator applies in the
admin (audited), applied by the hourly run itself under SMART_OPS_ENABLED, held under stabilize."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from waffle.models import Flag, Switch

from intelligence import tasks
from intelligence.models import HeldAction, Incident, IncidentRecovery, RuntimeSetting, RuntimeSettingChange, TuneSuggestion
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.autotune import autotune_run, p95_target_suggest, queue_max_suggest
from tests.intelligence.rollups import gauge_minute, read_as, request_minute

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("observed", "suggested"), [(100.0, 80), (105.115, 84), (62.6, 50), (50.0, 40), (30.0, 40),
                                                     (187.6, 150), (300.0, 150)])
def test_p95_target_is_80_percent_of_the_observed_p95_between_40_and_150(observed, suggested):
    assert p95_target_suggest(observed) == suggested


@pytest.mark.parametrize(("observed", "suggested"), [(0.0, 10), (2.0, 10), (3.4, 10), (3.7, 11), (20.0, 60),
                                                     (94.05, 282)])
def test_queue_max_is_three_times_the_observed_queue_p95_and_at_least_10(observed, suggested):
    assert queue_max_suggest(observed) == suggested


def _minute(minutes_ago):
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)


def _day_of_rollups():
    """A day's requests at 100 ms (one slow minute long ago, outside the 24 hours), and queue
    depths 0..99, each minute's two priorities added up."""
    for ago in range(1, 101):
        request_minute(_minute(ago * 10), [100.0] * 20)
        gauge_minute("queue.depth", _minute(ago * 10), ago - 1 - (ago - 1) // 2, priority="normal")
        gauge_minute("queue.depth", _minute(ago * 10), (ago - 1) // 2, priority="low")
    request_minute(_minute(24 * 60 + 1), [5000.0] * 1000)
    gauge_minute("queue.depth", _minute(24 * 60 + 1), 100_000)


def test_a_run_suggests_both_settings_from_the_last_24_hours():
    _day_of_rollups()
    p95, queue = autotune_run()
    assert (p95.setting, p95.current, p95.suggested, p95.delta) == ("p95_target", 150, 84, -66)
    assert p95.basis["observed_p95_ms"] == read_as(100.0) and p95.basis["requests"] == 2000
    # Depths 0..99: the 95th percentile by linear interpolation is 94.05.
    assert (queue.setting, queue.current, queue.suggested, queue.delta) == ("queue_max", 5000, 282, -4718)
    assert (queue.basis["observed_queue_p95"], queue.basis["minutes"]) == (94.05, 100)
    assert p95.applied_at is None and not p95.held and not RuntimeSettingChange.objects.exists()


def test_no_data_no_suggestion():
    assert autotune_run() == [] and not TuneSuggestion.objects.exists()


def _apply(operator, suggestions):
    return operator.post(reverse("admin:intelligence_tunesuggestion_changelist"),
                         {"action": "apply_suggestions", "_selected_action": [s.pk for s in suggestions]}, follow=True)


def test_an_operator_applies_a_suggestion_in_the_admin_audited(operator):
    _day_of_rollups()
    _, queue = autotune_run()
    response = _apply(operator, [queue])
    assert any("Applied queue_max = 282" in str(m) for m in get_messages(response.wsgi_request))
    assert RuntimeSetting.objects.get(name="queue_max").value == 282
    change = RuntimeSettingChange.objects.get()
    assert (change.old_value, change.new_value, change.source, change.actor) == (5000, 282, "autotune", operator.user)
    assert f"#{queue.pk}" in change.reason and "94.05" in change.reason
    queue.refresh_from_db()
    assert queue.applied_by == operator.user and queue.applied_at is not None

    response = _apply(operator, [queue])  # once only
    assert any("applied already" in str(m) for m in get_messages(response.wsgi_request))
    assert RuntimeSettingChange.objects.count() == 1


def test_run_now_from_the_admin_suggests_and_applies_nothing_even_under_smart_ops(
        operator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        Flag.objects.update_or_create(name="SMART_OPS_ENABLED", defaults={"everyone": True})
    url = reverse("admin:intelligence_tunesuggestion_run")
    assert operator.get(url).status_code == 405
    response = operator.post(url, follow=True)
    assert "No suggestion" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    _day_of_rollups()
    response = operator.post(url, follow=True)
    assert "queue_max 5000 -> 282 (-4718)" in " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert TuneSuggestion.objects.count() == 2 and not RuntimeSettingChange.objects.exists()
    page = operator.get(reverse("admin:intelligence_tunesuggestion_changelist"))
    assert "Run auto-tune now" in page.content.decode()


def _smart_ops(django_capture_on_commit_callbacks, *, stabilize=False):
    with django_capture_on_commit_callbacks(execute=True):  # waffle clears its cache on commit
        Flag.objects.update_or_create(name="SMART_OPS_ENABLED", defaults={"everyone": True})
        if stabilize:
            Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": True})


def test_the_hourly_run_applies_its_suggestions_under_smart_ops(django_capture_on_commit_callbacks):
    _day_of_rollups()
    tasks.autotune()  # without the flag: suggestions only
    assert TuneSuggestion.objects.count() == 2 and not RuntimeSettingChange.objects.exists()
    _smart_ops(django_capture_on_commit_callbacks)
    tasks.autotune()
    changes = {change.name: change for change in RuntimeSettingChange.objects.all()}
    assert {name: (c.old_value, c.new_value, c.source, c.actor) for name, c in changes.items()} == {
        "p95_target": (150, 84, "autotune", None), "queue_max": (5000, 282, "autotune", None)}
    assert "SMART_OPS_ENABLED" in changes["queue_max"].reason
    applied = TuneSuggestion.objects.filter(applied_at__isnull=False)
    assert applied.count() == 2 and not applied.filter(applied_by__isnull=False).exists()


def test_the_hourly_run_is_held_under_stabilize_mode(django_capture_on_commit_callbacks):
    _day_of_rollups()
    _smart_ops(django_capture_on_commit_callbacks, stabilize=True)
    tasks.autotune()
    assert not RuntimeSettingChange.objects.exists()
    assert list(TuneSuggestion.objects.values_list("held", "applied_at")) == [(True, None), (True, None)]
    held = HeldAction.objects.order_by("pk")
    assert [(h.action, h.reason, h.detail["setting"]) for h in held] == [
        ("autotune.apply", "stabilize_mode", "p95_target"), ("autotune.apply", "stabilize_mode", "queue_max")]


def test_the_hourly_run_leaves_queue_max_to_an_incident_recovery(django_capture_on_commit_callbacks):
    _day_of_rollups()
    _smart_ops(django_capture_on_commit_callbacks)
    incident = Incident.objects.create(opened_at=timezone.now(), title="SLO breached: p99")
    IncidentRecovery.objects.create(incident=incident, state="active", started_at=timezone.now(),
                                    changes={"queue_max": {"before": 5000, "set": 2500}})
    tasks.autotune()
    assert list(RuntimeSettingChange.objects.values_list("name", flat=True)) == ["p95_target"]
    assert "recovery holds queue_max" in TuneSuggestion.objects.get(setting="queue_max").note
