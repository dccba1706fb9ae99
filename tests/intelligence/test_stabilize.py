"""Stabilize mode (issue 9 section 2): turned on and off with a reason from the admin or
`manage.py stabilize`, audited and alerted however the switch is turned; while on, a banner on
every admin page and every automatic change held; GET /ops/stabilize for operators; with
STABILIZE_PAUSE_LOW_PRIORITY (or the runtime setting pause_low_priority) workers leave low-priority
jobs waiting, and run them once it is over."""

import importlib
from datetime import datetime
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from waffle.models import Switch

from intelligence.models import Alert, FlagChange, HeldAction, StabilizeEvent
from intelligence.services import runtime
from intelligence.services.automation import STABILIZE_SWITCH, automation_allowed, stabilize_active
from intelligence.services.stabilize import stabilize_off, stabilize_on, stabilize_state
from jobs.execution import job_reap, job_run_due
from jobs.models import Job
from levqor.errors import AppError
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db
STABILIZE_PAGE = "/admin/intelligence/stabilizeevent/stabilize/"


@pytest.fixture(autouse=True)
def known_flags():
    """The STABILIZE_MODE switch migrate made, again where a transactional test's flush emptied the table."""
    importlib.import_module("intelligence.migrations.0008_i9ops_known_flags").known_flags_create(django_apps, None)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit (waffle's cache flush, the state's) as a real commit would."""
    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)
    return run


def _command(*args) -> str:
    out = StringIO()
    call_command("stabilize", *args, stdout=out)
    return out.getvalue()


# --- the command ------------------------------------------------------------------------------

def test_the_command_turns_it_on_with_a_reason_audited_and_alerted_then_off(committed, operator):
    with pytest.raises(CommandError, match="reason is required"):
        _command("on")
    assert not stabilize_active() and not StabilizeEvent.objects.exists()

    output = committed(_command, "on", "--reason", "payment provider incident", "--actor", operator.user.email)
    assert "Stabilize mode is on." in output and "payment provider incident" in output
    assert stabilize_active()
    state = stabilize_state()
    assert (state["enabled"], state["by"], state["reason"]) == (True, operator.user.email, "payment provider incident")
    assert datetime.fromisoformat(state["since"]) == StabilizeEvent.objects.get().at
    change = FlagChange.objects.get(name=STABILIZE_SWITCH, source="command")
    assert (change.changed(), change.actor, change.reason) == ({"active": (False, True)}, operator.user,
                                                               "payment provider incident")
    alert = Alert.objects.get(source="stabilize")
    assert (alert.severity, alert.title) == ("warning", "Stabilize mode on")
    assert operator.user.email in alert.body and "payment provider incident" in alert.body

    # While on, automatic changes are held and recorded as held.
    assert not automation_allowed("autotune.apply", detail={"queue_max": 40})
    assert HeldAction.objects.get().reason == "stabilize_mode"
    held_page = operator.get(reverse("admin:intelligence_heldaction_changelist")).content.decode()
    assert "autotune.apply" in held_page and "stabilize_mode" in held_page

    assert "already on" in committed(_command, "on", "--reason", "again")
    assert StabilizeEvent.objects.count() == 1

    output = committed(_command, "off")  # the reason is optional to turn it off
    assert "Stabilize mode is off." in output
    assert not stabilize_active() and stabilize_state()["enabled"] is False
    off = StabilizeEvent.objects.first()
    assert (off.enabled, off.source, off.reason) == (False, "command", "turned off with manage.py stabilize off")
    assert "@" in off.actor_label and "manage.py" in off.actor_label  # which account on which machine
    assert Alert.objects.filter(source="stabilize", title="Stabilize mode off", severity="info").exists()
    assert automation_allowed("autotune.apply")

    status = _command("status")
    assert "Stabilize mode: off" in status and "turned off with manage.py stabilize off" in status


def test_without_its_switch_it_is_off_and_turning_it_on_makes_the_switch(committed):
    Switch.objects.filter(name=STABILIZE_SWITCH).delete()
    assert stabilize_off(actor=None, actor_label="test", reason="nothing to do", source="test") is None
    assert not Switch.objects.filter(name=STABILIZE_SWITCH).exists() and not StabilizeEvent.objects.exists()
    event = committed(stabilize_on, actor=None, actor_label="test", reason="drill", source="test")
    assert event.enabled and Switch.objects.get(name=STABILIZE_SWITCH).active and stabilize_active()


def test_the_service_refuses_a_change_without_a_reason():
    with pytest.raises(AppError) as refused:
        stabilize_on(actor=None, reason="  ", source="test")
    assert refused.value.code == "validation_failed"
    assert not Switch.objects.get(name=STABILIZE_SWITCH).active


def test_the_state_is_read_without_a_query_once_cached(committed, django_assert_num_queries):
    committed(stabilize_on, actor=None, actor_label="test", reason="drill", source="test")
    stabilize_state()
    with django_assert_num_queries(0):
        for _ in range(100):
            assert stabilize_state()["enabled"]


# --- the admin ----------------------------------------------------------------------------------

def test_from_the_admin_a_reason_is_required_then_the_banner_shows_on_every_admin_page(operator, committed):
    page = operator.get(STABILIZE_PAGE)
    assert page.status_code == 200 and "Stabilize mode is off" in page.content.decode()
    assert "stabilize-banner" not in operator.get(reverse("admin:index")).content.decode()

    refused = operator.post(STABILIZE_PAGE, {"action": "on", "reason": " "})
    assert refused.status_code == 200 and refused.context["form"].errors["reason"]
    assert not stabilize_active() and not StabilizeEvent.objects.exists()

    response = committed(operator.post, STABILIZE_PAGE, {"action": "on", "reason": "deploy freeze for the audit"})
    assert response.status_code == 302
    event = StabilizeEvent.objects.get()
    assert (event.enabled, event.actor, event.source) == (True, operator.user, "admin")
    assert stabilize_active()

    for url in (reverse("admin:index"), reverse("admin:jobs_job_changelist"), reverse("admin:waffle_flag_changelist")):
        html = operator.get(url).content.decode()
        assert 'id="stabilize-banner"' in html, url
        assert "deploy freeze for the audit" in html and operator.user.email in html
        assert f"since {event.at:%Y-%m-%d %H:%M:%S} UTC" in html

    response = committed(operator.post, STABILIZE_PAGE, {"action": "off", "reason": "audit done"})
    assert response.status_code == 302 and not stabilize_active()
    assert "stabilize-banner" not in operator.get(reverse("admin:index")).content.decode()
    history = operator.get(reverse("admin:intelligence_stabilizeevent_changelist")).content.decode()
    assert "deploy freeze for the audit" in history and "audit done" in history


def test_turning_it_in_the_admin_needs_staff_the_switch_permission_and_csrf(operator, client):
    # Not signed in, or not staff: the admin's sign-in page.
    assert client.post(STABILIZE_PAGE, {"action": "on", "reason": "x"}).status_code == 302
    client.force_login(UserFactory())
    assert client.post(STABILIZE_PAGE, {"action": "on", "reason": "x"}).status_code == 302
    # Staff who may not change switches see the state but cannot turn it.
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_stabilizeevent"))
    client.force_login(staff)
    page = client.get(STABILIZE_PAGE)
    assert page.status_code == 200 and "stabilize-form" not in page.content.decode()
    assert client.post(STABILIZE_PAGE, {"action": "on", "reason": "x"}).status_code == 403
    # A form posted without its CSRF token is refused, in the error shape.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator.user)
    assert_api_error(browser.post(STABILIZE_PAGE, {"action": "on", "reason": "x"}), 403, "csrf_failed")
    assert not stabilize_active() and not StabilizeEvent.objects.exists()


def test_the_switch_turned_on_its_own_admin_page_is_recorded_and_alerted_alike(operator, committed):
    switch = Switch.objects.get(name=STABILIZE_SWITCH)
    response = committed(operator.post, reverse("admin:waffle_switch_change", args=[switch.pk]), {
        "name": STABILIZE_SWITCH, "active": "on", "note": switch.note, "reason": "turned from the switch page",
        "created_0": "2026-11-26", "created_1": "10:00:00", "modified_0": "2026-11-26", "modified_1": "10:00:00"})
    assert response.status_code == 302
    event = StabilizeEvent.objects.get()
    assert (event.enabled, event.actor, event.source, event.reason) == (True, operator.user, "admin",
                                                                        "turned from the switch page")
    assert Alert.objects.filter(source="stabilize", title="Stabilize mode on").exists()
    assert stabilize_state()["reason"] == "turned from the switch page"


def test_the_switch_turned_by_wafffles_command_is_recorded_without_a_reason(committed):
    committed(call_command, "waffle_switch", STABILIZE_SWITCH, "on")
    event = StabilizeEvent.objects.get()
    assert event.enabled and event.source == "direct" and "no reason given" in event.reason
    assert Alert.objects.filter(source="stabilize").exists()


# --- GET /ops/stabilize --------------------------------------------------------------------------

def test_ops_stabilize_answers_operators_only(client, client_for, api, operator, user, committed):
    _owner, raw = api_key_for(scopes=["admin:read"])
    assert client_for(raw).get("/ops/stabilize").json() == {"enabled": False, "since": None, "by": None,
                                                            "reason": None}
    event = committed(stabilize_on, actor=operator.user, reason="incident 42", source="admin")
    body = client_for(raw).get("/ops/stabilize").json()
    assert body == {"enabled": True, "since": event.at.isoformat(), "by": operator.user.email, "reason": "incident 42"}
    assert operator.get("/ops/stabilize", HTTP_ACCEPT="application/json").json() == body

    assert_api_error(client.get("/ops/stabilize"), 401, "not_authenticated")
    assert_api_error(api.get("/ops/stabilize"), 403, "insufficient_scope")  # a customer's key
    client.force_login(user)
    assert_api_error(client.get("/ops/stabilize"), 403, "permission_denied")
    assert_api_error(client_for(raw).post("/ops/stabilize"), 405, "method_not_allowed")


# --- low priority left waiting --------------------------------------------------------------------

def _statuses(*jobs) -> list[str]:
    return [Job.objects.get(pk=job.pk).status for job in jobs]


def test_with_the_setting_stabilize_pauses_low_priority_jobs_and_they_run_after(user, settings, committed):
    settings.STABILIZE_PAUSE_LOW_PRIORITY = True
    committed(stabilize_on, actor=None, actor_label="test", reason="overload", source="test")
    low = job_submit(user, priority="low")
    normal = job_submit(user)
    high = job_submit(user, priority="high")
    assert job_run_due(max_seconds=30) == 2
    assert _statuses(low, normal, high) == ["queued", "succeeded", "succeeded"]  # waiting, not lost
    assert job_reap()["tokens"] == 0  # nothing a worker would take: no token sent for it

    committed(stabilize_off, actor=None, actor_label="test", reason="recovered", source="test")
    assert job_run_due(max_seconds=30) == 1
    assert _statuses(low) == ["succeeded"]


def test_without_the_setting_stabilize_leaves_low_priority_running(user, settings, committed):
    settings.STABILIZE_PAUSE_LOW_PRIORITY = False
    committed(stabilize_on, actor=None, actor_label="test", reason="overload", source="test")
    low = job_submit(user, priority="low")
    assert job_run_due(max_seconds=30) == 1
    assert _statuses(low) == ["succeeded"]


def test_the_runtime_setting_pauses_low_priority_on_its_own(user, settings, committed):
    """Incident recovery sets pause_low_priority, stabilized or not."""
    settings.STABILIZE_PAUSE_LOW_PRIORITY = False
    committed(runtime.runtime_setting_set, "pause_low_priority", True, source="incident", reason="incident 7")
    low = job_submit(user, priority="low")
    normal = job_submit(user)
    assert job_run_due(max_seconds=30) == 1
    assert _statuses(low, normal) == ["queued", "succeeded"]
    committed(runtime.runtime_setting_set, "pause_low_priority", False, source="incident", reason="resolved")
    assert job_run_due(max_seconds=30) == 1
    assert _statuses(low) == ["succeeded"]
