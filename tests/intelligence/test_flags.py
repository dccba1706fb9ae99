"""Feature flags (issue 9 section 1): the known flags exist after migrate, off, each saying what it
gates; every change of a flag or switch is kept in an append-only audit (who, when, old -> new,
why), read-only in the admin, where a change without a reason is refused; GET /api/v1/flags
lists them with their state for operators (admin:read keys or staff)."""

import importlib
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from waffle.models import Flag, Switch

from intelligence.known_flags import KNOWN_FLAGS
from intelligence.models import FlagChange
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.flag_audit import flag_change_context
from intelligence.services.flags import flag_active
from intelligence.services.stabilize import SWITCH_NOTE
from levqor.errors import AppError
from tests.api_asserts import assert_api_error
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("intelligence.migrations.0008_i9ops_known_flags")


@pytest.fixture(autouse=True)
def known_flags():
    """The flags migrate made, made again by the migration's own code where a transactional test's
    flush emptied the table (it leaves existing ones alone)."""
    MIGRATION.known_flags_create(django_apps, None)


def test_the_known_flags_exist_after_migrate_off_and_saying_what_they_gate():
    flags = {flag.name: flag for flag in Flag.objects.filter(name__in=KNOWN_FLAGS)}
    assert set(flags) == set(KNOWN_FLAGS) == {
        "AUTOSCALE_ENABLED", "INCIDENT_AUTORECOVER", "PRICING_AUTO_APPLY", "AI_INSIGHTS_ENABLED", "SMART_OPS_ENABLED",
        "WEEKLY_BRIEF_ENABLED", "AUTO_POSTMORTEM_ENABLED"}
    for name, flag in flags.items():
        assert flag.note == KNOWN_FLAGS[name] and "Issue" in flag.note, name
        assert not flag_active(name)
        # Off for an operator in a request too: waffle's default would turn a flag on for superusers.
        assert flag.everyone is None and not flag.superusers and not flag.staff and not flag.users.exists()
    switch = Switch.objects.get(name=STABILIZE_SWITCH)
    assert not switch.active and switch.note == SWITCH_NOTE
    # The migration's frozen copy is the code's list.
    assert MIGRATION.FLAGS == KNOWN_FLAGS and MIGRATION.STABILIZE_NOTE == SWITCH_NOTE
    created = FlagChange.objects.filter(source="migration", old__isnull=True)
    assert set(created.values_list("name", flat=True)) == set(KNOWN_FLAGS) | {STABILIZE_SWITCH}


def test_an_operator_reads_a_known_flag_as_off_in_a_request(operator, rf):
    request = rf.get("/")
    request.user = operator.user  # a superuser
    assert not flag_active("SMART_OPS_ENABLED", request=request)


# --- the admin: a reason with every change, kept in the audit -----------------------------------

def _flag_form(flag: Flag, **changes) -> dict:
    """The admin's change form of a flag as a browser posts it, with changes."""
    data = {
        "name": flag.name, "everyone": {None: "unknown", True: "true", False: "false"}[flag.everyone],
        "percent": "" if flag.percent is None else str(flag.percent), "languages": flag.languages, "note": flag.note,
        "users": ",".join(str(pk) for pk in flag.users.values_list("pk", flat=True)),
        "groups": [str(pk) for pk in flag.groups.values_list("pk", flat=True)],
        "created_0": flag.created.strftime("%Y-%m-%d"), "created_1": flag.created.strftime("%H:%M:%S"),
        "modified_0": flag.modified.strftime("%Y-%m-%d"), "modified_1": flag.modified.strftime("%H:%M:%S"),
    }
    for field in ("testing", "superusers", "staff", "authenticated", "rollout"):
        if getattr(flag, field):
            data[field] = "on"
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_flag_changed_in_the_admin_is_audited_with_who_old_new_and_why(operator, django_capture_on_commit_callbacks):
    flag = Flag.objects.get(name="SMART_OPS_ENABLED")
    beta = Group.objects.create(name="beta")
    customer = UserFactory()
    url = reverse("admin:waffle_flag_change", args=[flag.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(url, _flag_form(flag, everyone="true", percent="12.5", users=str(customer.pk),
                                                 groups=[str(beta.pk)], reason="  let auto-tune apply itself  "))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert flag_active("SMART_OPS_ENABLED")  # read in a task: on for everyone, seen at once

    change = FlagChange.objects.get(name="SMART_OPS_ENABLED", source="admin")  # one row: fields, users, groups
    assert (change.kind, change.actor, change.reason) == ("flag", operator.user, "let auto-tune apply itself")
    assert change.changed() == {"everyone": (None, True), "percent": (None, "12.5"),
                                "users": ([], [str(customer.pk)]), "groups": ([], ["beta"])}
    assert change.old["note"] == change.new["note"] == KNOWN_FLAGS["SMART_OPS_ENABLED"]

    # The audit page lists it, read-only.
    page = operator.get(reverse("admin:intelligence_flagchange_changelist"), {"name": "SMART_OPS_ENABLED"})
    assert page.status_code == 200 and "let auto-tune apply itself" in page.content.decode()
    assert "everyone: None -> True" in page.content.decode()


def test_a_change_without_a_reason_is_refused_in_the_admin(operator):
    flag = Flag.objects.get(name="PRICING_AUTO_APPLY")
    response = operator.post(reverse("admin:waffle_flag_change", args=[flag.pk]),
                             _flag_form(flag, everyone="true", reason="   "))
    assert response.status_code == 200  # the form again, with its error
    assert "reason" in response.context["adminform"].form.errors
    flag.refresh_from_db()
    assert flag.everyone is None
    assert not FlagChange.objects.exclude(source="migration").exists()


def test_a_switch_added_in_the_admin_is_audited_as_created(operator):
    response = operator.post(reverse("admin:waffle_switch_add"), {
        "name": "MAINTENANCE_BANNER", "active": "on", "note": "shows a banner", "reason": "planned work tonight",
        "created_0": "2026-11-26", "created_1": "10:00:00", "modified_0": "2026-11-26", "modified_1": "10:00:00"})
    assert response.status_code == 302
    change = FlagChange.objects.get(name="MAINTENANCE_BANNER")
    assert change.old is None and change.new == {"name": "MAINTENANCE_BANNER", "active": True, "note": "shows a banner"}
    assert change.actor == operator.user and change.reason == "planned work tonight"


def test_the_audit_is_read_only_and_flags_are_not_deleted_in_the_admin(operator):
    change = FlagChange.objects.filter(source="migration").first()
    assert operator.get(reverse("admin:intelligence_flagchange_add")).status_code == 403
    assert operator.post(reverse("admin:intelligence_flagchange_change", args=[change.pk]), {"reason": "x"}
                         ).status_code == 403
    assert operator.post(reverse("admin:intelligence_flagchange_delete", args=[change.pk]), {"post": "yes"}
                         ).status_code == 403
    flag = Flag.objects.get(name="AUTOSCALE_ENABLED")
    assert operator.post(reverse("admin:waffle_flag_delete", args=[flag.pk]), {"post": "yes"}).status_code == 403
    assert Flag.objects.filter(pk=flag.pk).exists() and FlagChange.objects.filter(pk=change.pk).exists()
    # The bulk actions that change flags without a reason are gone.
    page = operator.get(reverse("admin:waffle_flag_changelist"))
    assert page.status_code == 200 and "enable_for_all" not in page.content.decode()


def test_changes_made_outside_the_admin_are_kept_too(user):
    """waffle's own command and a shell cannot ask for a reason: still recorded, as "direct"."""
    call_command("waffle_flag", "AUTOSCALE_ENABLED", "--everyone")
    flag = Flag.objects.get(name="AUTOSCALE_ENABLED")
    flag.users.add(user)
    rows = list(FlagChange.objects.filter(name="AUTOSCALE_ENABLED", source="direct").order_by("pk"))
    assert [row.changed() for row in rows] == [{"everyone": (None, True)}, {"users": ([], [str(user.pk)])}]
    assert all(row.actor is None and row.reason == "" for row in rows)


def test_a_service_change_needs_a_reason_and_is_undone_without_one():
    switch = Switch.objects.get(name=STABILIZE_SWITCH)
    with pytest.raises(AppError) as refused, transaction.atomic(), flag_change_context(reason=" ", source="test"):
        switch.note = "changed"
        switch.save()
    assert refused.value.code == "validation_failed"
    assert Switch.objects.get(pk=switch.pk).note == SWITCH_NOTE
    assert not FlagChange.objects.exclude(source="migration").exists()


def test_no_admin_or_api_module_is_hidden_behind_a_package():
    """intelligence/admin/ and intelligence/api/ are packages: a module of the same name beside one
    (e.g. from another branch) would never be imported."""
    root = Path(settings.BASE_DIR)
    for app in ("levqor", "accounts", "jobs", "compliance", "intelligence"):
        for package in (root / app).iterdir():
            if package.is_dir() and (package / "__init__.py").exists():
                assert not (root / app / f"{package.name}.py").exists(), f"{app}/{package.name}.py is shadowed"


# --- GET /api/v1/flags ------------------------------------------------------------------------

def test_flags_api_lists_every_flag_and_switch_with_its_state(client_for, django_capture_on_commit_callbacks):
    _user, raw = api_key_for(scopes=["admin:read"])
    with django_capture_on_commit_callbacks(execute=True):
        flag = Flag.objects.get(name="AI_INSIGHTS_ENABLED")
        flag.percent = 25
        flag.save()
        flag.users.add(UserFactory(), UserFactory())
        Flag.objects.filter(name="WEEKLY_BRIEF_ENABLED").update(everyone=True)
    response = client_for(raw).get("/api/v1/flags")
    assert response.status_code == 200
    body = response.json()
    flags = {item["name"]: item for item in body["flags"]}
    assert set(KNOWN_FLAGS) <= set(flags)
    assert flags["SMART_OPS_ENABLED"]["state"] == "off" and flags["SMART_OPS_ENABLED"]["note"] == KNOWN_FLAGS[
        "SMART_OPS_ENABLED"]
    assert flags["WEEKLY_BRIEF_ENABLED"]["state"] == "on" and flags["WEEKLY_BRIEF_ENABLED"]["everyone"] is True
    insights = flags["AI_INSIGHTS_ENABLED"]
    assert (insights["state"], insights["percent"], insights["users"], insights["groups"]) == ("some", "25.0", 2, [])
    assert insights["summary"] == "on for 25.0% of visitors; 2 user(s)"
    switches = {item["name"]: item for item in body["switches"]}
    assert switches[STABILIZE_SWITCH] == {**switches[STABILIZE_SWITCH], "state": "off", "active": False,
                                          "note": SWITCH_NOTE}


def test_flags_api_is_for_operators_only(client_for, api, client, operator, user):
    assert_api_error(client.get("/api/v1/flags"), 401, "not_authenticated")
    body = assert_api_error(api.get("/api/v1/flags"), 403, "insufficient_scope")  # a customer's key
    assert body["details"]["required_scope"] == "admin:read"
    client.force_login(user)  # signed in, not staff
    assert_api_error(client.get("/api/v1/flags"), 403, "permission_denied")
    assert operator.get("/api/v1/flags", HTTP_ACCEPT="application/json").status_code == 200


def test_flags_api_is_in_the_openapi_schema(client):
    schema = client.get("/public/openapi.json").json()
    operation = schema["paths"]["/api/v1/flags"]["get"]
    assert operation["operationId"] == "flags_list"
    assert {"200", "401", "403"} <= set(operation["responses"])
