"""The personal data registry: export and erasure cover whatever an app registers, in one
transaction, without accounts (or compliance, which offers the pages) knowing the app."""

import json

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import ApiKey, User
from accounts.personal_data import (
    AlreadyRegistered,
    personal_data_erase,
    personal_data_export,
    personal_data_providers,
    personal_data_register,
    personal_data_unregister,
)
from accounts.services.key_auth import api_key_authenticate, api_key_cache_key
from compliance.services import account_erase
from jobs.models import Job
from tests.factories import UserFactory, api_key_for, terms_accepted_by
from tests.jobs.support import job_submit

pytestmark = pytest.mark.django_db


class Holdings:
    """What a coming app (partners, marketplace) would hold about people, kept in memory."""

    def __init__(self):
        self.by_user: dict = {}
        self.erasures: list = []

    def export(self, *, user):
        return {"listings": self.by_user.get(user.pk, [])}

    def erase(self, *, user, erasure):
        self.erasures.append((user.pk, erasure))
        self.by_user.pop(user.pk, None)


@pytest.fixture
def holdings():
    held = Holdings()
    personal_data_register(name="partner_profiles", export=held.export, erase=held.erase)
    yield held
    personal_data_unregister("partner_profiles")


@pytest.fixture
def signed_in(user):
    terms_accepted_by(user)  # the settings pages are behind the terms gate
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_every_app_joins_the_registry_in_a_stable_order():
    names = [p.name for p in personal_data_providers()]
    # INSTALLED_APPS order: accounts, jobs, compliance, partners, marketplace, intelligence.
    assert names == ["profile", "api_keys", "webhooks", "jobs", "terms_acceptances", "cookie_consents", "marketing",
                     "partners", "partner_ratings", "partner_reports", "billing", "marketplace", "operations", "growth"]


def test_a_registered_provider_is_in_the_export_download(holdings, signed_in):
    holdings.by_user[signed_in.user.pk] = [{"title": "My listing", "price_minor": 1200, "currency": "GBP"}]
    response = signed_in.get("/settings/export")
    assert response.status_code == 200
    data = json.loads(response.content)
    assert data["partner_profiles"] == {"listings": [{"title": "My listing", "price_minor": 1200, "currency": "GBP"}]}
    # Beside, not instead of, what the other apps hold.
    assert data["profile"]["email"] == signed_in.user.email and "jobs" in data and "marketing" in data
    assert list(data)[0] == "exported_at" and list(data)[-1] == "partner_profiles"


def test_a_registered_provider_is_erased_with_the_account(holdings, signed_in):
    user = signed_in.user
    holdings.by_user[user.pk] = [{"title": "My listing"}]
    response = signed_in.post("/settings/delete", {"email": user.email}, REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 302
    [(erased_pk, erasure)] = holdings.erasures
    assert erased_pk == user.pk and user.pk not in holdings.by_user
    # People erasing themselves leave no address behind.
    assert (erasure.by_self, erasure.actor.pk, erasure.ip) == (True, user.pk, None)
    assert User.objects.get(pk=user.pk).email.startswith("deleted-")


def test_staff_erasing_someone_else_is_audited_with_their_address(holdings, user, django_user_model):
    staff = django_user_model.objects.create_superuser("ops@example.com", "pw-123456789")
    account_erase(user=user, actor=staff, ip="203.0.113.7")
    [(_, erasure)] = holdings.erasures
    assert (erasure.by_self, erasure.actor, erasure.ip) == (False, staff, "203.0.113.7")


def test_an_erasure_is_done_entirely_or_not_at_all(user):
    job = job_submit(user, payload={"customer_email": "alice@example.org"})
    _, raw_key = api_key_for(user)

    def refuse(*, user, erasure):
        raise RuntimeError("the partner store is down")

    personal_data_register(name="failing", export=lambda *, user: None, erase=refuse)
    try:
        with pytest.raises(RuntimeError):
            personal_data_erase(user=user, actor=user, ip=None)
    finally:
        personal_data_unregister("failing")
    # What ran before the failure was rolled back with it.
    kept = User.objects.get(pk=user.pk)
    assert (kept.email, kept.is_active) == (user.email, True)
    assert Job.objects.get(pk=job.pk).payload == {"customer_email": "alice@example.org"}
    assert ApiKey.objects.get(owner=user).revoked_at is None
    assert api_key_authenticate(raw_key) is not None


def test_a_key_cached_during_the_erasure_stops_working_when_it_commits(user, django_capture_on_commit_callbacks):
    _, raw_key = api_key_for(user)
    assert api_key_authenticate(raw_key) is not None
    cache_key = api_key_cache_key(ApiKey.objects.get(owner=user).key_hash)
    before = cache.get(cache_key)
    assert before is not None

    def concurrent_request(*, user, erasure):
        # Another process authenticating while the erasure's transaction is still open reads
        # the committed row (the key still usable) and caches it.
        cache.set(cache_key, before)

    personal_data_register(name="slow_app", export=lambda *, user: None, erase=concurrent_request)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            personal_data_erase(user=user, actor=user, ip=None)
    finally:
        personal_data_unregister("slow_app")
    assert api_key_authenticate(raw_key) is None


def test_a_section_name_is_taken_once(holdings):
    with pytest.raises(AlreadyRegistered):
        personal_data_register(name="partner_profiles", export=lambda *, user: {})
    with pytest.raises(AlreadyRegistered):
        personal_data_register(name="jobs", export=lambda *, user: [])
    # The same provider again (AppConfig.ready run twice) is no change.
    personal_data_register(name="partner_profiles", export=holdings.export, erase=holdings.erase)
    assert [p.name for p in personal_data_providers()].count("partner_profiles") == 1
    with pytest.raises(ValueError):
        personal_data_register(name="exported_at", export=lambda *, user: None)


def test_the_export_names_only_its_user(holdings):
    alice, bob = UserFactory(), UserFactory()
    holdings.by_user[alice.pk] = ["alice's"]
    assert personal_data_export(user=bob)["partner_profiles"] == {"listings": []}
