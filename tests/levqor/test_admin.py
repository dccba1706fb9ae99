"""The operator back-office: jobs with their event logs, retry/cancel actions through the
services, and API keys whose raw value is shown exactly once."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import ApiKey
from accounts.services.key_auth import api_key_authenticate
from jobs.models import Job, JobEvent
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db


def _submit(api, **body):
    response = post_json(api, "/api/v1/jobs", {"workflow": "demo.flow", "payload": {}, **body})
    assert response.status_code == 201, response.content
    return Job.objects.get(pk=response.json()["id"])


def test_job_list_filters_search_and_detail_show_the_event_log(operator, api):
    job = _submit(api)
    other = _submit(api, priority="high")
    Job.objects.filter(pk=other.pk).update(status="failed", error_code="boom")

    page = operator.get(reverse("admin:jobs_job_changelist"), {"status__exact": "failed"})
    assert page.status_code == 200
    assert str(other.pk) in page.content.decode() and str(job.pk) not in page.content.decode()

    page = operator.get(reverse("admin:jobs_job_changelist"), {"q": api.user.email})
    assert page.context["cl"].result_count == 2

    page = operator.get(reverse("admin:jobs_job_change", args=[job.pk]))
    assert page.status_code == 200
    assert "created" in page.content.decode()  # the inline event log


def test_admin_retry_and_cancel_actions_go_through_the_services(operator, api):
    queued = _submit(api)
    failed = _submit(api)
    Job.objects.filter(pk=failed.pk).update(status="failed", error_code="boom", attempts=3)

    url = reverse("admin:jobs_job_changelist")
    response = operator.post(url, {"action": "cancel_jobs", "_selected_action": [queued.pk, failed.pk]}, follow=True)
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Cancelled 1 job(s)" in m and "cannot be cancelled" in m for m in messages), messages
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert JobEvent.objects.filter(job=queued, kind="cancelled").exists()

    response = operator.post(url, {"action": "retry_jobs", "_selected_action": [failed.pk]}, follow=True)
    failed.refresh_from_db()
    assert failed.status == "queued" and failed.max_attempts > failed.attempts
    assert JobEvent.objects.filter(job=failed, kind="retried").exists()


def test_jobs_cannot_be_added_or_deleted_in_admin(operator, api):
    job = _submit(api)
    assert operator.get(reverse("admin:jobs_job_add")).status_code == 403
    assert operator.get(reverse("admin:jobs_job_delete", args=[job.pk])).status_code == 403


def test_a_new_key_is_shown_once_and_only_its_hash_is_stored(operator):
    owner = UserFactory()
    response = operator.post(reverse("admin:accounts_apikey_add"),
                             {"owner": owner.pk, "name": "ci", "livemode": "on", "expires_at_0": "", "expires_at_1": "",
                              "scopes": ["jobs:read", "jobs:write"]},  # the boxes ticked by default
                             follow=True)
    assert response.status_code == 200
    messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    raw = re.search(r"lvk_live_[0-9a-f]{32}", messages).group(0)
    key = ApiKey.objects.get(owner=owner)
    assert key.name == "ci" and key.prefix == raw[:13] and raw not in key.key_hash
    assert api_key_authenticate(raw).pk == key.pk

    detail = operator.get(reverse("admin:accounts_apikey_change", args=[key.pk])).content.decode()
    assert raw not in detail  # never shown again


def test_revoke_action_stops_the_key_at_once(operator, client_for):
    owner = UserFactory()

    _, raw = api_key_for(owner)
    client = client_for(raw)
    assert client.get("/api/v1/jobs").status_code == 200  # now cached
    key = ApiKey.objects.get(owner=owner)
    operator.post(reverse("admin:accounts_apikey_changelist"), {"action": "revoke_keys", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert client.get("/api/v1/jobs").status_code == 401


def test_user_admin_searches_by_email_and_shows_keys(operator):
    owner = UserFactory(email="findme@example.com")

    api_key_for(owner, name="shown-in-inline")
    page = operator.get(reverse("admin:accounts_user_changelist"), {"q": "findme"})
    assert page.context["cl"].result_count == 1
    page = operator.get(reverse("admin:accounts_user_change", args=[owner.pk]))
    assert "shown-in-inline" in page.content.decode()
