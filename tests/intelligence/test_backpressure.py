"""Intake backpressure (issue 9 section 7): while due, queued jobs exceed the runtime setting
queue_max, every intake path answers 503 queue_full with Retry-After and stores nothing; the count
is refreshed at most once a second per process (tests/jobs/test_query_counts.py pins its queries).
The knob is edited in the admin with a required reason, audited, its history read-only."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from intelligence.models import RuntimeSetting, RuntimeSettingChange
from intelligence.services import runtime
from jobs import backpressure
from jobs.models import Job
from levqor import ops_state
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import JobFactory
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db
DEMO = {"workflow": "demo.flow", "payload": {"hello": "world"}}


@pytest.fixture
def clock_1s(monkeypatch):
    """The backpressure's clock (seconds), moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(backpressure, "_monotonic", lambda: now[0])
    return now


@pytest.fixture
def queue_max(django_capture_on_commit_callbacks):
    def set_to(value):
        with django_capture_on_commit_callbacks(execute=True):
            runtime.runtime_setting_set("queue_max", value, source="test", reason="test")
    return set_to


@pytest.mark.parametrize("path", ["/api/v1/intake", "/api/v1/jobs", "/api/v1/intake?format=json",
                                  "/api/v1/jobs?format=json"], ids=["intake-fast", "jobs-fast", "intake-drf", "jobs-drf"])
def test_over_queue_max_every_intake_path_answers_503_with_retry_after(api, queue_max, clock_1s, settings, path):
    settings.QUEUE_FULL_RETRY_AFTER_SECONDS = 7
    queue_max(2)
    JobFactory.create_batch(3, owner=api.user)  # due and queued: one over the limit
    JobFactory(owner=api.user, next_attempt_at=timezone.now() + timedelta(minutes=5))  # not due: not counted
    JobFactory(owner=api.user, status=Job.Status.RUNNING)  # not waiting: not counted
    before = Job.objects.count()

    response = post_json(api, path, DEMO)
    body = assert_api_error(response, 503, "queue_full")
    assert response["Retry-After"] == "7" and body["details"] == {"retry_after_seconds": 7}
    assert Job.objects.count() == before

    # Workers take one: at the limit, not over it. Seen at the next refresh (at most a second).
    Job.objects.filter(pk=Job.objects.filter(status="queued").order_by("created_at").first().pk).update(
        status=Job.Status.RUNNING)
    assert_api_error(post_json(api, path, DEMO), 503, "queue_full")  # the count is a second old
    clock_1s[0] += backpressure.REFRESH_SECONDS
    assert post_json(api, path, DEMO).status_code in (201, 202)


def test_the_workflow_page_is_held_back_too(user, queue_max, client):
    from tests.factories import terms_accepted_by

    terms_accepted_by(user)
    queue_max(1)
    JobFactory.create_batch(2, owner=user)
    client.force_login(user)
    response = client.post("/workflow", {"workflow": "demo.flow", "payload": "{}", "mode": "test"})
    assert response.status_code == 503 and "Too many jobs are waiting" in response.content.decode()
    assert Job.objects.count() == 2


def test_a_limit_raised_in_the_admin_lets_intake_through_within_a_second(api, operator, queue_max, clock_1s,
                                                                        django_capture_on_commit_callbacks):
    queue_max(1)
    JobFactory.create_batch(2, owner=api.user)
    assert_api_error(post_json(api, "/api/v1/intake", DEMO), 503, "queue_full")
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(reverse("admin:intelligence_runtimesetting_change", args=["queue_max"]),
                                 {"value": "100", "reason": "more workers online"})
    assert response.status_code == 302
    clock_1s[0] += backpressure.REFRESH_SECONDS
    runtime.reset()  # the knob's own memo, another second (as in another process)
    assert post_json(api, "/api/v1/intake", DEMO).status_code == 202


def test_without_a_provider_there_is_no_limit(user, monkeypatch):
    monkeypatch.setattr(ops_state, "_intake_queue_max", None)
    JobFactory.create_batch(3, owner=user)
    assert ops_state.intake_queue_max() is None and not ops_state.low_priority_paused()
    backpressure.intake_capacity_check()  # no refusal
    assert job_submit(user).status == "queued"


def test_the_count_stops_at_the_limit(user):
    JobFactory.create_batch(5, owner=user)
    assert backpressure.due_queued_count(limit=2) == 3  # enough to know it is over
    assert backpressure.due_queued_count(limit=10) == 5


# --- runtime settings in the admin --------------------------------------------------------------

def test_runtime_settings_are_edited_in_the_admin_with_a_reason_and_audited(operator, django_capture_on_commit_callbacks):
    listing = operator.get(reverse("admin:intelligence_runtimesetting_changelist")).content.decode()
    assert "Not set yet" in listing and "queue_max" in listing and "pause_low_priority" in listing

    add = reverse("admin:intelligence_runtimesetting_add")
    assert operator.get(add, {"name": "queue_max"}).context["adminform"].form.initial["value"] == 5000
    refused = operator.post(add, {"name": "queue_max", "value": "40", "reason": " "})
    assert refused.status_code == 200 and "reason" in refused.context["adminform"].form.errors
    wrong = operator.post(add, {"name": "queue_max", "value": "forty", "reason": "backlog"})
    assert "value" in wrong.context["adminform"].form.errors
    assert not RuntimeSetting.objects.exists() and not RuntimeSettingChange.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert operator.post(add, {"name": "queue_max", "value": "40", "reason": "backlog"}).status_code == 302
    assert runtime.runtime_setting_get("queue_max") == 40
    change = reverse("admin:intelligence_runtimesetting_change", args=["queue_max"])
    with django_capture_on_commit_callbacks(execute=True):
        assert operator.post(change, {"value": "60", "reason": "workers added"}).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        assert operator.post(add, {"name": "pause_low_priority", "value": "true", "reason": "incident"}
                             ).status_code == 302
    runtime.reset()
    assert runtime.runtime_setting_get("queue_max") == 60 and runtime.runtime_setting_get("pause_low_priority") is True

    history = list(RuntimeSettingChange.objects.order_by("at", "pk").values_list(
        "name", "old_value", "new_value", "actor", "source", "reason"))
    assert history == [("queue_max", 5000, 40, operator.user.pk, "admin", "backlog"),
                       ("queue_max", 40, 60, operator.user.pk, "admin", "workers added"),
                       ("pause_low_priority", False, True, operator.user.pk, "admin", "incident")]

    # The history is read-only; knobs are not deleted.
    row = RuntimeSettingChange.objects.first()
    assert operator.post(reverse("admin:intelligence_runtimesettingchange_change", args=[row.pk]),
                         {"reason": "rewritten"}).status_code == 403
    assert operator.get(reverse("admin:intelligence_runtimesettingchange_add")).status_code == 403
    assert operator.post(reverse("admin:intelligence_runtimesetting_delete", args=["queue_max"]),
                         {"post": "yes"}).status_code == 403
    page = operator.get(reverse("admin:intelligence_runtimesettingchange_changelist")).content.decode()
    assert "workers added" in page
