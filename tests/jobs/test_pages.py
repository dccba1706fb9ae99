"""The dashboard (my jobs, filters, details with the event log, the refresher's JSON) and the
workflow page (submitting a job through the intake checks)."""

import re
from datetime import timedelta

import pytest
from django.test import Client

from jobs.execution import job_run_due
from jobs.models import Job
from tests.factories import UserFactory
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def me():
    user = UserFactory(terms_accepted=True)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-job-id="([0-9a-f-]+)"', page)


def test_dashboard_lists_only_my_jobs_newest_first(me):
    first = job_submit(me.user)
    second = job_submit(me.user, payload={"delay_ms": 1})
    Job.objects.filter(pk=first.pk).update(created_at=second.created_at - timedelta(seconds=5))
    theirs = job_submit(UserFactory())
    answer = me.get("/dashboard")
    page = answer.content.decode()
    assert "<h1>Dashboard</h1>" in page and 'id="jobs-table"' in page
    assert row_ids(page) == [str(second.pk), str(first.pk)]
    assert str(theirs.pk) not in page
    assert 'src="/static/jobs/dashboard.js"' in page  # queued jobs: the refresher is loaded


def test_dashboard_filters_by_status_workflow_and_mode(me):
    queued = job_submit(me.user)
    failed = job_submit(me.user)
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.FAILED)
    page = me.get("/dashboard?status=failed").content.decode()
    assert row_ids(page) == [str(failed.pk)]
    assert row_ids(me.get("/dashboard?workflow=http.request").content.decode()) == []
    assert set(row_ids(me.get("/dashboard?workflow=demo.flow").content.decode())) == {str(queued.pk), str(failed.pk)}
    assert row_ids(me.get("/dashboard?mode=test").content.decode()) == []


def test_job_details_show_the_event_log_and_only_to_the_owner(me):
    job = job_submit(me.user, payload={"fail_times": 0})
    job_run_due()
    page = me.get(f"/dashboard/jobs/{job.pk}").content.decode()
    assert "succeeded" in page
    events = re.search(r'<table id="job-events">(.*?)</table>', page, re.S).group(1)
    assert [kind for kind in ("created", "started", "succeeded") if f"<td>{kind}</td>" in events] == [
        "created", "started", "succeeded"]
    assert "&quot;echo&quot;" in page
    stranger = Client()
    stranger.force_login(UserFactory(terms_accepted=True))
    assert stranger.get(f"/dashboard/jobs/{job.pk}").status_code == 404


def test_refresher_json_returns_only_my_jobs(me):
    mine = job_submit(me.user)
    theirs = job_submit(UserFactory())
    answer = me.get(f"/dashboard/status?ids={mine.pk},{theirs.pk},not-a-uuid")
    assert answer.status_code == 200
    data = answer.json()
    assert [j["id"] for j in data["jobs"]] == [str(mine.pk)]
    assert data["jobs"][0]["status"] == "queued" and data["active"] is True
    job_run_due()
    data = me.get(f"/dashboard/status?ids={mine.pk}").json()
    assert data["jobs"][0]["status"] == "succeeded" and data["active"] is False
    assert Client().get(f"/dashboard/status?ids={mine.pk}").status_code == 302


def test_finished_jobs_load_no_refresher(me):
    job = job_submit(me.user)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    assert "dashboard.js" not in me.get("/dashboard").content.decode()


def test_workflow_page_lists_workflows_with_their_schema(me):
    page = me.get("/workflow").content.decode()
    for name in ("demo.flow", "http.request", "llm.chat"):
        assert f"<code>{name}</code>" in page
    assert "fail_times" in page  # demo.flow's payload schema


def test_workflow_form_submits_a_test_mode_job_as_me(me):
    answer = me.post("/workflow", {"workflow": "demo.flow", "payload": '{"delay_ms": 5}', "mode": "test",
                                   "priority": "high"})
    job = Job.objects.get(owner=me.user)
    assert answer.status_code == 302 and answer["Location"] == f"/dashboard/jobs/{job.pk}"
    assert (job.livemode, job.payload, job.priority_name, job.api_key) == (False, {"delay_ms": 5}, "high", None)
    assert row_ids(me.get("/dashboard?mode=test").content.decode()) == [str(job.pk)]
    assert row_ids(me.get("/dashboard").content.decode()) == []


def test_workflow_form_shows_the_intake_errors(me):
    answer = me.post("/workflow", {"workflow": "demo.flow", "payload": '{"delay_ms": -1}', "mode": "live"})
    page = answer.content.decode()
    assert answer.status_code == 400
    assert "does not fit the demo.flow workflow" in page and "payload.delay_ms" in page
    assert "{&quot;delay_ms&quot;: -1}" in page  # what was typed is kept
    broken = me.post("/workflow", {"workflow": "demo.flow", "payload": "{nope", "mode": "live"})
    assert broken.status_code == 400 and "not valid JSON" in broken.content.decode()
    unknown = me.post("/workflow", {"workflow": "no.such", "payload": "{}", "mode": "live"})
    assert "There is no workflow called" in unknown.content.decode()
    assert not Job.objects.exists()


def test_workflow_form_refuses_an_http_callback_url_where_https_is_required(me, settings):
    settings.WEBHOOK_HTTPS_ONLY = True
    answer = me.post("/workflow", {"workflow": "demo.flow", "payload": "{}", "mode": "live",
                                   "callback_url": "http://example.com/hook"})
    assert answer.status_code == 400 and "callback_url must be an https URL" in answer.content.decode()
    assert not Job.objects.exists()
