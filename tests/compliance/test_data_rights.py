import json

import pytest
from django.test import Client

from accounts.models import ApiKey, Referral, User
from accounts.services.key_auth import api_key_authenticate
from accounts.services.users import referral_track
from compliance import services
from compliance.models import AccountErasure, ConsentRecord, MarketingConsentEvent, TermsAcceptance
from jobs.models import Job, JobEvent
from levqor.webhooks.delivery import signing_secret_for
from tests.compliance.conftest import csrf_from
from tests.factories import api_key_for
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(browser, terms):
    """A signed-in user with terms accepted, a key, a job, a cookie choice and a marketing request."""
    user = browser.user
    _, raw_key = api_key_for(user)
    browser.raw_key = raw_key
    services.terms_accept(user=user, ip="198.51.100.4", user_agent="Firefox/1")
    browser.job = job_submit(user, payload={"customer_email": "alice@example.org"},
                             callback_url="https://hooks.example.org/alice")
    services.cookie_consent_record(anonymous_id=None, user=user, choices={"analytics": True}, ip="198.51.100.4",
                                   user_agent="Firefox/1")
    services.marketing_opt_in_request(user=user, source="settings", ip="198.51.100.4", user_agent="Firefox/1")
    referral_track(email=user.email, source="newsletter")
    return browser


def test_export_downloads_everything_about_the_user_and_no_secret(customer):
    response = customer.get("/settings/export")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    user = customer.user
    assert data["profile"]["email"] == user.email and data["profile"]["name"] == user.name
    assert data["terms_acceptances"][0]["version"] == "2025-11-14"
    assert data["terms_acceptances"][0]["ip"] == "198.51.100.4"
    assert data["cookie_consents"][0]["choices"]["analytics"] is True
    assert data["marketing"]["status"] == "pending_double_opt_in"
    assert [e["action"] for e in data["marketing"]["events"]] == ["requested"]
    assert data["api_keys"][0]["prefix"] == ApiKey.objects.get(owner=user).prefix
    job = data["jobs"][0]
    assert job["payload"] == {"customer_email": "alice@example.org"}
    assert [e["kind"] for e in job["events"]] == ["created"]
    text = response.content.decode()
    key = ApiKey.objects.get(owner=user)
    for secret in (customer.raw_key, key.key_hash, signing_secret_for(owner=user).secret):
        assert secret not in text
    assert "password" not in text


def test_export_needs_a_signed_in_user():
    assert Client().get("/settings/export")["Location"].startswith("/login")


def delete(browser, email):
    return browser.post("/settings/delete", {"email": email, "csrfmiddlewaretoken": csrf_from(browser, "/settings/delete")})


def test_erasure_needs_the_email_typed(customer):
    response = delete(customer, "someone-else@example.org")
    assert response.status_code == 400 and "nothing was deleted" in response.content.decode()
    assert User.objects.get(pk=customer.user.pk).is_active


def test_erasure_anonymises_revokes_scrubs_and_signs_out(customer, client_for):
    user = customer.user
    old_email = user.email
    response = delete(customer, old_email.upper())
    assert response.status_code == 302 and response["Location"] == "/"

    erased = User.objects.get(pk=user.pk)
    assert erased.email.startswith("deleted-") and erased.email.endswith("@invalid")
    assert (erased.name, erased.meta, erased.is_active, erased.has_usable_password()) == ("", {}, False, False)
    assert not User.objects.filter(email=old_email).exists()
    assert not Referral.objects.filter(email=old_email).exists()
    # Signed out, and the key no longer works.
    assert customer.get("/settings")["Location"].startswith("/login")
    assert api_key_authenticate(customer.raw_key) is None
    assert client_for(customer.raw_key).get("/api/v1/jobs").status_code == 401
    assert ApiKey.objects.get(owner=erased).revoked_at is not None
    # The job stays (billing), stopped and without what could name a person.
    job = Job.objects.get(pk=customer.job.pk)
    assert job.status == "cancelled"
    assert (job.payload, job.callback_url, job.result) == ({}, "", None)
    assert JobEvent.objects.filter(job=job).exists()
    # Audit rows stay, without addresses or browsers; marketing is off.
    acceptance = TermsAcceptance.objects.get(user=erased)
    assert (acceptance.ip, acceptance.user_agent) == (None, "")
    assert ConsentRecord.objects.get(user=erased).ip_truncated is None
    events = list(MarketingConsentEvent.objects.filter(user=erased).order_by("at", "id").values_list("action", "ip"))
    assert events == [("requested", None), ("unsubscribed", None)]
    assert AccountErasure.objects.get(user=erased).by_self
    dump = json.dumps(list(User.objects.filter(pk=user.pk).values()), default=str)
    assert old_email not in dump


def test_the_settings_page_shows_the_consents_and_the_ways_out(customer):
    html = customer.get("/settings").content.decode()
    assert "Version 2025-11-14" in html
    assert "Waiting for you to confirm" in html
    for element in ('id="export-data"', 'data-cookie-settings', 'id="marketing-opt-out"', 'href="/settings/delete"'):
        assert element in html
    assert "style=" not in html


def test_the_admin_shows_a_users_consent_state_and_logs_are_read_only(customer, django_user_model):
    staff = django_user_model.objects.create_superuser("ops@example.com", "pw-123456789")
    admin = Client()
    admin.force_login(staff)
    page = admin.get(f"/admin/accounts/user/{customer.user.pk}/change/").content.decode()
    assert "terms 2025-11-14 accepted" in page and "marketing requested, not confirmed" in page
    assert "requested via settings" in page and "from 198.51.100.4" in page
    for log in ("termsacceptance", "consentrecord", "marketingconsentevent"):
        assert admin.get(f"/admin/compliance/{log}/").status_code == 200
        assert admin.get(f"/admin/compliance/{log}/add/").status_code == 403
    assert admin.get("/admin/compliance/termsversion/add/").status_code == 200
