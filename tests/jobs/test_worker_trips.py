"""What a worker's run token costs the database per job: the next job is claimed in the round trip
that finishes the last one (each still under its own lease, starting when it starts), and a job
with nobody to tell (no callback_url, no account endpoint) costs no hand-over after its commit."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from jobs import execution
from jobs.execution import job_run_due
from jobs.models import Job
from levqor.webhooks.models import WebhookEndpoint
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db


def _statements(queries) -> list[str]:
    # The job table's statements (a runtime setting read through the cache once is not the job's).
    return [q["sql"] for q in queries
            if '"jobs_job' in q["sql"] or "jobs_job" in q["sql"].split(" WHERE ")[0]]


# One job per claim; claims of several at once: test_worker_batch.py.
@override_settings(WORKER_CLAIM_BATCH=1)
def test_each_next_job_is_claimed_in_the_round_trip_that_finishes_the_last(user, monkeypatch):
    monkeypatch.setattr(execution, "job_final_hand_over", lambda job_id: None)
    jobs = [job_submit(user) for _ in range(5)]
    with CaptureQueriesContext(connection) as captured:
        assert job_run_due() == 5
    statements = _statements(captured.captured_queries)
    if connection.vendor == "postgresql":
        # one claim, then one statement per job: its finish with the next claim
        assert len(statements) == len(jobs) + 1, statements
    else:
        # SQLite: one IMMEDIATE transaction per job (finish, its event, the next claim and its event)
        assert len(statements) <= 5 * len(jobs) + 3, statements
    ordered = sorted(Job.objects.filter(pk__in=[j.pk for j in jobs]), key=lambda j: j.started_at)
    grace = timedelta(seconds=settings.JOB_LEASE_GRACE_SECONDS + 30)  # demo.flow: a 30 s timeout
    for before, after in zip(ordered, ordered[1:], strict=False):
        assert after.started_at == before.finished_at, "claimed as the previous one finished"
    for job in ordered:
        assert (job.status, job.attempts) == ("succeeded", 1)
        started_event = job.events.get(kind="started")
        assert started_event.at == job.started_at
    # Each job's lease ran from its own start (checked on a job claimed the same way and left running).
    waiting = job_submit(user)
    last = job_submit(user)
    from jobs.execution import _claim_kwargs, job_claim
    from jobs.fastsql import finish

    first = job_claim()
    assert first.pk == waiting.pk
    ended = first.started_at + timedelta(seconds=3)
    outcome = execution.Outcome("succeeded", result={})
    _, following = finish.job_finish_final(
        first, status="succeeded", result={}, run_cost=first.estimated_cost, error_code="", error_message="",
        events=execution._finish_events(first, outcome, status="succeeded", duration_ms=3000, now=ended,
                                        retry_at=None, run_cost=first.estimated_cost),
        now=ended, claim_next=_claim_kwargs(ended))
    assert following.pk == last.pk
    following.refresh_from_db()
    assert following.lease_expires_at - following.started_at == grace
    assert following.started_at == first.started_at + timedelta(seconds=3)


def test_a_job_with_nobody_to_tell_costs_no_hand_over(user, monkeypatch, django_capture_on_commit_callbacks):
    handed = []
    monkeypatch.setattr(execution, "job_final_hand_over", lambda job_id: handed.append(job_id))
    quiet = job_submit(user)
    with django_capture_on_commit_callbacks(execute=True):
        job_run_due()
    assert Job.objects.get(pk=quiet.pk).status == "succeeded"
    assert handed == [], "no callback_url and no endpoint: nothing to hand over"

    with_callback = job_submit(user, callback_url="https://hooks.example.test/cb")
    with django_capture_on_commit_callbacks(execute=True):
        job_run_due()
    assert handed == [with_callback.pk]

    WebhookEndpoint.objects.create(owner=user, url="https://hooks.example.test/h", event_types=["job.completed"])
    with_endpoint = job_submit(user)
    with django_capture_on_commit_callbacks(execute=True):
        job_run_due()
    assert handed == [with_callback.pk, with_endpoint.pk]

    WebhookEndpoint.objects.filter(owner=user).update(enabled=False)
    disabled = job_submit(user)
    with django_capture_on_commit_callbacks(execute=True):
        job_run_due()
    assert Job.objects.get(pk=disabled.pk).status == "succeeded"
    assert handed == [with_callback.pk, with_endpoint.pk], "a disabled endpoint gets nothing"
