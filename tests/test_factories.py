"""The factories make rows the way the real code leaves them, so a test built on them tests
something that can happen."""

import pytest

from accounts.models import ApiKeyEvent
from accounts.services.key_auth import api_key_authenticate
from jobs.execution import job_claim, job_reap, job_run_next
from jobs.models import Job
from jobs.services import job_cancel
from tests.factories import ApiKeyFactory, JobFactory, api_key_pair
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db

# The fields whose presence goes with a job's status.
STATUS_FIELDS = ("attempts", "started_at", "finished_at", "cancel_requested_at", "lease_expires_at", "worker",
                 "result", "error_code", "error_message")


def _shape(job: Job) -> dict:
    job.refresh_from_db()
    return {name: getattr(job, name) if name == "attempts" else bool(getattr(job, name) not in (None, ""))
            for name in STATUS_FIELDS}


def _engine_job(user, status) -> Job:
    if status == Job.Status.FAILED:  # no LLM provider in the test settings: fails at once, for good
        job = job_submit(user, "llm.chat", {"messages": [{"role": "user", "content": "hi"}]})
    else:
        job = job_submit(user)
    if status == Job.Status.RUNNING:
        job_claim()
    elif status == Job.Status.CANCELLED:
        job_cancel(job=job)
    elif status != Job.Status.QUEUED:
        job_run_next()
    job.refresh_from_db()
    assert job.status == status
    return job


@pytest.mark.parametrize("status", Job.Status.values)
def test_a_factory_job_looks_like_one_the_engine_left_in_that_status(user, status):
    assert _shape(JobFactory(owner=user, status=status)) == _shape(_engine_job(user, status))


def test_a_factory_job_with_an_expired_lease_is_one_the_reaper_takes_back(user):
    job = JobFactory(owner=user, lease_expired=True)
    job_reap()
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and job.lease_expires_at is None


def test_a_factory_key_is_made_by_the_service_and_its_raw_key_authenticates():
    api_key, raw = api_key_pair(scopes=["jobs:read"], test_mode=True)
    found = api_key_authenticate(raw)
    assert found is not None and found.pk == api_key.pk
    assert (found.livemode, found.scopes) == (False, ["jobs:read"]) and raw.startswith("lvk_test_")
    assert ApiKeyEvent.objects.filter(api_key=api_key, action="created").count() == 1


def test_a_revoked_factory_key_does_not_authenticate():
    api_key = ApiKeyFactory(revoked=True)
    assert api_key.revoked_at is not None and api_key_authenticate(api_key.raw_key) is None
    assert ApiKeyEvent.objects.filter(api_key=api_key, action="revoked").count() == 1


def test_keys_are_never_built_around_the_service():
    with pytest.raises(TypeError):
        ApiKeyFactory.build()
