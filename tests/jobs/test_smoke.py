import pytest

from jobs.execution import job_run_next
from jobs.models import Job
from tests.conftest import post_json

pytestmark = pytest.mark.django_db(transaction=True)


def test_intake_then_worker_runs_the_job(api):
    response = post_json(api, "/api/v1/intake", {"workflow": "demo.flow", "payload": {"hello": "world"}})
    assert response.status_code == 202, response.content
    job_id = response.json()["job_id"]
    assert response.json() == {"job_id": job_id, "status": "queued"}

    assert job_run_next() is not None
    status = api.get(f"/api/v1/status/{job_id}").json()
    assert status["status"] == "succeeded"
    assert status["result"] == {"echo": {"hello": "world"}}
    assert Job.objects.get(pk=job_id).events.count() == 3  # created, started, succeeded
