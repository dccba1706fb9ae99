"""The intelligence app's shared pieces: alerts stored and de-duplicated, and the one guard every
automatic change asks, which holds (and records) while stabilize mode is on."""

from datetime import timedelta

import pytest
from django.utils import timezone
from waffle.models import Switch

from intelligence.models import Alert, HeldAction
from intelligence.services.alerts import alert_raise
from intelligence.services.automation import STABILIZE_SWITCH, automation_allowed, stabilize_active

pytestmark = pytest.mark.django_db


def test_the_same_alert_within_the_dedup_window_counts_on_the_first(clock, settings):
    settings.ALERT_DEDUP_SECONDS = 900
    first = alert_raise(source="test", severity="warning", title="Disk nearly full", dedup_key="disk")
    clock.advance(600)
    again = alert_raise(source="test", severity="warning", title="Disk nearly full", dedup_key="disk")
    assert again.pk == first.pk and again.count == 2 and again.last_seen > first.first_seen
    clock.advance(901)  # the window runs from the last sighting
    later = alert_raise(source="test", severity="warning", title="Disk nearly full", dedup_key="disk")
    assert later.pk != first.pk and Alert.objects.count() == 2


def test_a_resolved_alert_is_not_reopened_by_a_new_sighting():
    first = alert_raise(source="test", severity="critical", title="Down")
    Alert.objects.filter(pk=first.pk).update(status=Alert.Status.RESOLVED, resolved_at=timezone.now())
    second = alert_raise(source="test", severity="critical", title="Down")
    assert second.pk != first.pk and second.status == "open"


def test_an_unknown_severity_is_refused():
    with pytest.raises(ValueError):
        alert_raise(source="test", severity="urgent", title="x")


def test_automatic_changes_are_allowed_until_stabilize_mode_holds_and_records_them(django_capture_on_commit_callbacks):
    assert not stabilize_active()
    assert automation_allowed("autotune.apply", detail={"queue_max": 40})
    assert not HeldAction.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):  # waffle clears its cache entry on commit
        # The switch exists, off, from the known-flags migration.
        Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": True})
    assert stabilize_active()
    assert not automation_allowed("autotune.apply", detail={"queue_max": 40})
    held = HeldAction.objects.get()
    assert (held.action, held.reason, held.detail) == ("autotune.apply", "stabilize_mode", {"queue_max": 40})
    assert held.at > timezone.now() - timedelta(seconds=5)


def test_runtime_settings_default_then_change_audited_and_seen_from_the_cache(django_capture_on_commit_callbacks,
                                                                              django_assert_num_queries, user):
    from intelligence.models import RuntimeSettingChange
    from intelligence.services import runtime

    runtime.reset()
    assert runtime.runtime_setting_get("queue_max") == 5000
    runtime.reset()
    with django_assert_num_queries(0):  # cached: no query on the hot path
        assert runtime.runtime_setting_get("queue_max") == 5000
    with django_capture_on_commit_callbacks(execute=True):
        change = runtime.runtime_setting_set("queue_max", "40", actor=user, source="admin", reason="backlog")
    assert (change.old_value, change.new_value, change.actor, change.reason) == (5000, 40, user, "backlog")
    assert runtime.runtime_setting_get("queue_max") == 40
    assert runtime.runtime_setting_set("queue_max", 40, source="admin", reason="same") is None
    with pytest.raises(ValueError):
        runtime.runtime_setting_set("queue_max", 30, source="admin", reason=" ")
    assert RuntimeSettingChange.objects.count() == 1


def test_flags_read_alike_in_requests_and_in_tasks(django_capture_on_commit_callbacks, rf, user):
    from waffle.models import Flag

    from intelligence.services.flags import flag_active

    assert not flag_active("NO_SUCH_FLAG")  # unknown: off
    assert not flag_active("SMART_OPS_ENABLED")  # known (the known-flags migration), off
    with django_capture_on_commit_callbacks(execute=True):
        flag, _ = Flag.objects.update_or_create(name="SMART_OPS_ENABLED", defaults={"everyone": None})
        flag.users.add(user)
    assert not flag_active("SMART_OPS_ENABLED")  # a task, nobody in particular
    assert flag_active("SMART_OPS_ENABLED", user=user)
    request = rf.get("/")
    request.user = user
    assert flag_active("SMART_OPS_ENABLED", request=request)
    with django_capture_on_commit_callbacks(execute=True):
        Flag.objects.filter(pk=flag.pk).update(everyone=True)
        Flag.objects.get(pk=flag.pk).save()
    assert flag_active("SMART_OPS_ENABLED")


def test_an_operators_back_office_actions_are_in_their_data_export_and_survive_erasure(user):
    from accounts.personal_data import personal_data_erase, personal_data_export
    from intelligence.models import RuntimeSettingChange
    from intelligence.services import runtime

    runtime.runtime_setting_set("queue_max", 40, actor=user, source="admin", reason="backlog")
    alert = alert_raise(source="test", severity="warning", title="Disk")
    Alert.objects.filter(pk=alert.pk).update(acknowledged_by=user, acknowledged_at=timezone.now())
    exported = personal_data_export(user=user)["operations"]
    assert [(c["name"], c["old_value"], c["new_value"], c["reason"]) for c in exported["runtime_setting_changes"]] == [
        ("queue_max", 5000, 40, "backlog")]
    assert [a["title"] for a in exported["alerts_acknowledged"]] == ["Disk"]
    personal_data_erase(user=user, actor=None, ip=None)
    change = RuntimeSettingChange.objects.get()
    # The audit row stays and names the account, now anonymised.
    assert change.actor_id == user.pk and change.actor.email.startswith("deleted-")
