"""Monthly API quotas by tier: counting on both request paths, the 429 at the limit, the reset at
the month's end, the usage endpoint, the count's durable copy in the database, tier changes,
counting shared by processes on Redis, and the key's last use and IP."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, ApiUsage, User
from accounts.services import key_auth
from accounts.services.usage import api_usage_count
from jobs.models import Job
from levqor.errors import AppError, ErrorCode
from tests.api_asserts import assert_api_error
from tests.conftest import cache_clear_own, post_json
from tests.factories import ApiKeyFactory, api_key_for
from tests.jobs.support import worker_env

pytestmark = pytest.mark.django_db

DEMO = {"workflow": "demo.flow", "payload": {}}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def set(self, *args):
        self.now = datetime(*args, tzinfo=UTC)

    def advance(self, **delta):
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    """django.utils.timezone.now, frozen at a time the test moves: 2025-11-30 23:58:30 UTC."""
    frozen = Clock(datetime(2025, 11, 30, 23, 58, 30, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def quotas(settings):
    settings.API_MONTHLY_QUOTAS = {"sandbox": 3, "pro": 5, "enterprise": None}
    return settings.API_MONTHLY_QUOTAS


def _restart_cache():
    """As if the embedded cache (local memory, lost with the process) and the process restarted."""
    cache_clear_own()
    key_auth.reset()


def _usage(api) -> dict:
    response = api.get("/api/v1/usage")
    assert response.status_code == 200, response.content
    return response.json()


def _persisted(user, month=(2025, 11)) -> int | None:
    row = ApiUsage.objects.filter(owner=user, month=datetime(*month, 1).date()).first()
    return row and row.calls


# --- the limit and the reset ------------------------------------------------------------------

def test_the_call_at_the_limit_is_allowed_the_next_refused_and_a_new_month_resets(api, quotas, clock):
    for _ in range(3):
        assert api.get("/api/v1/jobs").status_code == 200
    refused = api.get("/api/v1/jobs")
    body = assert_api_error(refused, 429, "quota_exceeded", extra_keys=frozenset({"reset_at"}))
    assert body["details"] == {"reset_at": "2025-12-01T00:00:00Z", "calls_limit": 3, "tier": "sandbox"}
    assert body["reset_at"] == "2025-12-01T00:00:00Z", "where the old service's clients read it"
    assert refused["Retry-After"] == "90"  # 23:58:30 -> midnight
    assert "3" in body["message"] and "2025-12-01T00:00:00Z" in body["message"]

    # Refused requests are not executed: no job is created on either path.
    assert post_json(api, "/api/v1/jobs", DEMO).status_code == 429
    assert post_json(api, "/api/v1/jobs?format=json", DEMO).status_code == 429
    assert Job.objects.count() == 0
    assert _usage(api)["calls_used"] == 3, "refused calls are not counted"

    clock.advance(seconds=89)
    assert api.get("/api/v1/jobs")["Retry-After"] == "1"
    clock.advance(seconds=1)  # 2025-12-01T00:00:00Z: a new month
    assert post_json(api, "/api/v1/jobs", DEMO).status_code == 201
    assert _usage(api) == {"calls_used": 1, "calls_limit": 3, "calls_remaining": 2,
                           "reset_at": "2026-01-01T00:00:00Z", "tier": "sandbox"}


def test_the_year_turns_too(key_pair, quotas):
    user, raw = key_pair
    api_key = ApiKey.objects.get(owner=user)
    api_key.owner = user
    december = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    for used in (1, 2, 3):
        assert api_usage_count(api_key=api_key, now=december).calls_used == used
    with pytest.raises(AppError) as refused:
        api_usage_count(api_key=api_key, now=december)
    assert (refused.value.code, refused.value.status, refused.value.retry_after) == (ErrorCode.QUOTA_EXCEEDED, 429, 1)
    assert refused.value.details["reset_at"] == "2026-01-01T00:00:00Z"
    january = api_usage_count(api_key=api_key, now=december + timedelta(seconds=1))
    assert (january.calls_used, january.calls_remaining, january.reset_at) == (
        1, 2, datetime(2026, 2, 1, tzinfo=UTC))


def test_the_fast_path_and_drf_count_together_and_refuse_with_the_same_answer(api, quotas, clock):
    # The intake fast path (a JSON POST) and DRF (?format=json) count against one quota.
    assert post_json(api, "/api/v1/intake", DEMO).status_code == 202
    assert post_json(api, "/api/v1/intake?format=json", DEMO).status_code == 202
    assert api.get("/api/v1/jobs").status_code == 200
    fast = post_json(api, "/api/v1/intake", DEMO, HTTP_X_REQUEST_ID="req-q")
    drf = post_json(api, "/api/v1/intake?format=json", DEMO, HTTP_X_REQUEST_ID="req-q")
    assert "Allow" in drf and "Allow" not in fast, "the two answers did come from the two paths"
    assert_api_error(fast, 429, "quota_exceeded", extra_keys=frozenset({"reset_at"}))
    assert_api_error(drf, 429, "quota_exceeded", extra_keys=frozenset({"reset_at"}))
    assert fast.json() == drf.json()
    assert fast["Retry-After"] == drf["Retry-After"] == "90"
    assert fast["Content-Type"] == drf["Content-Type"] == "application/json"
    assert Job.objects.count() == 2


def test_sessions_in_the_browsable_api_are_not_counted(quotas, clock):
    staff = User.objects.create_superuser("ops@levqor.test", "a-long-operator-password")
    browser = Client()
    browser.force_login(staff)
    for _ in range(5):
        assert browser.get("/api/v1/jobs", HTTP_ACCEPT="text/html").status_code == 200
    assert _persisted(staff) is None and cache.get(f"usage:{staff.pk}:2025-11") is None


# --- the usage endpoint ------------------------------------------------------------------------

def test_usage_counts_every_key_of_the_owner_and_reading_it_is_free(api, quotas, clock):
    assert _usage(api) == {"calls_used": 0, "calls_limit": 3, "calls_remaining": 3,
                           "reset_at": "2025-12-01T00:00:00Z", "tier": "sandbox"}
    second_key = ApiKeyFactory(owner=api.user, name="second").raw_key
    second = Client(HTTP_X_API_KEY=second_key)
    assert api.get("/api/v1/workflows").status_code == 200
    assert second.get("/api/v1/workflows").status_code == 200
    for _ in range(3):  # reading usage is not a call
        assert _usage(api)["calls_used"] == 2
    assert second.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 429
    # Out of quota, the client can still read when it resets.
    assert _usage(api) == {"calls_used": 3, "calls_limit": 3, "calls_remaining": 0,
                           "reset_at": "2025-12-01T00:00:00Z", "tier": "sandbox"}


def test_usage_of_an_unlimited_tier_has_no_limit(key_pair, client_for, quotas, clock):
    user, raw = key_pair
    User.objects.filter(pk=user.pk).update(tier="enterprise")
    api = client_for(raw)
    for _ in range(8):
        assert api.get("/api/v1/workflows").status_code == 200
    assert _usage(api) == {"calls_used": 8, "calls_limit": None, "calls_remaining": None,
                           "reset_at": "2025-12-01T00:00:00Z", "tier": "enterprise"}


def test_usage_needs_a_key_and_is_in_the_openapi_schema(client):
    assert_api_error(client.get("/api/v1/usage"), 401, "not_authenticated")
    schema = client.get("/public/openapi.json", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/usage"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    properties = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
    assert set(properties) == {"calls_used", "calls_limit", "calls_remaining", "reset_at", "tier"}
    assert properties["calls_limit"]["nullable"] is True
    assert "does not count" in operation["description"]


def test_the_limits_come_from_the_settings(api, settings, clock):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "sandbox": 2}
    assert _usage(api)["calls_limit"] == 2
    assert api.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 429


# --- the durable copy ----------------------------------------------------------------------------

def _usage_writes(queries) -> list[str]:
    return [q["sql"] for q in queries if "accounts_apiusage" in q["sql"] and not q["sql"].startswith("SELECT")]


def test_the_count_is_written_at_most_once_a_minute_and_survives_a_cache_restart(api, quotas, settings, clock):
    settings.API_MONTHLY_QUOTAS = {**quotas, "sandbox": 10}
    with CaptureQueriesContext(connection) as first:
        assert api.get("/api/v1/workflows").status_code == 200
    assert len(_usage_writes(first)) == 1 and _persisted(api.user) == 1  # the counter starts from the row
    with CaptureQueriesContext(connection) as same_minute:
        for _ in range(4):
            assert api.get("/api/v1/workflows").status_code == 200
    # The key, the quota and its counter cost no query in the same minute (the endpoint's own query,
    # the caller's installed marketplace modules, is not the layer's).
    assert _usage_writes(same_minute) == [] and [q["sql"] for q in same_minute if "accounts_" in q["sql"]] == []
    assert _persisted(api.user) == 1

    clock.advance(seconds=40)  # 23:58:30 -> 23:59:10: the next minute
    with CaptureQueriesContext(connection) as next_minute:
        assert api.get("/api/v1/workflows").status_code == 200
        assert api.get("/api/v1/workflows").status_code == 200
    assert len(_usage_writes(next_minute)) == 1
    assert _persisted(api.user) == 6, "the count as of the minute's first call"

    _restart_cache()  # the 7th call, made after the last write, is what a restart can lose
    assert _usage(api)["calls_used"] == 6, "read from the database while the cache has no counter"
    for _ in range(4):
        assert api.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 429, "6 + 4 = the limit of 10"
    assert _usage(api)["calls_used"] == 10

    # Last month's unwritten tail is written when the owner's counter of the new month starts.
    clock.set(2025, 12, 1, 0, 0, 5)
    assert api.get("/api/v1/workflows").status_code == 200
    assert _persisted(api.user) == 10
    assert _persisted(api.user, month=(2025, 12)) == 1


def test_a_late_write_never_lowers_the_count(key_pair, settings, clock):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "sandbox": 100}
    user, _ = key_pair
    api_key = ApiKey.objects.select_related("owner").get(owner=user)
    for _ in range(3):
        api_usage_count(api_key=api_key)  # counter 3, row 1 (written by the first)
    ApiUsage.objects.filter(owner=user).update(calls=50)  # a process that saw more wrote first
    clock.advance(minutes=1)
    assert api_usage_count(api_key=api_key).calls_used == 4
    assert _persisted(user) == 50


# --- tiers ---------------------------------------------------------------------------------------

def _change_form_data(page) -> dict:
    """What the admin's change form would post back unchanged (the user and the key inline)."""
    data = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update({formset.management_form.add_prefix(k): v for k, v in formset.management_form.initial.items()})
        forms += formset.forms
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if not field.disabled and value is not None:
                data[form.add_prefix(name)] = [str(v) for v in value] if isinstance(value, list) else str(value)
    return data


def test_an_operator_changes_the_tier_and_it_takes_effect_at_once(api, quotas, clock):
    for _ in range(3):
        assert api.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 429

    operator = Client()
    operator.force_login(User.objects.create_superuser("ops@levqor.test", "a-long-operator-password"))
    url = reverse("admin:accounts_user_change", args=[api.user.pk])
    page = operator.get(url)
    assert "3 / 3 (resets 2025-12-01 00:00 UTC)" in page.content.decode()
    response = operator.post(url, {**_change_form_data(page), "tier": "pro"})
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response

    assert User.objects.get(pk=api.user.pk).tier == "pro"
    assert _usage(api)["calls_limit"] == 5  # the cached key, which carries the tier, was dropped
    assert api.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 200
    assert api.get("/api/v1/workflows").status_code == 429
    assert "5 / 5" in operator.get(url).content.decode()


# --- shared by processes (Redis) -------------------------------------------------------------------

CALLER = """
import json, os, sys
import django
django.setup()
from django.test import Client
client = Client(HTTP_X_API_KEY=os.environ["QUOTA_TEST_KEY"])
print(json.dumps([client.get("/api/v1/workflows").status_code for _ in range(int(sys.argv[1]))]))
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_processes_share_one_count_on_redis(settings):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "sandbox": 40}
    user, raw = api_key_for()
    env = {**worker_env(), "API_QUOTA_SANDBOX": "40", "QUOTA_TEST_KEY": raw}
    other = subprocess.Popen([sys.executable, "-c", CALLER, "30"], env=env, cwd=settings.BASE_DIR,  # noqa: S603
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        client = Client(HTTP_X_API_KEY=raw)
        here = [client.get("/api/v1/workflows").status_code for _ in range(30)]
        out, err = other.communicate(timeout=120)
    finally:
        other.kill()
    assert other.returncode == 0, err
    there = json.loads(out.strip().splitlines()[-1])
    assert set(here + there) <= {200, 429}
    assert here.count(200) + there.count(200) == 40, (here, there)
    assert here.count(200) >= 1 and there.count(200) >= 1
    usage = Client(HTTP_X_API_KEY=raw).get("/api/v1/usage").json()
    assert (usage["calls_used"], usage["calls_remaining"]) == (40, 0)
    assert 1 <= ApiUsage.objects.get(owner=user).calls <= 40


# --- last use and IP ------------------------------------------------------------------------------

def test_the_keys_last_use_and_ip_are_written_once_a_minute(key_pair, client_for):
    user, raw = key_pair
    client = client_for(raw)
    key = ApiKey.objects.get(owner=user)
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/workflows", REMOTE_ADDR="203.0.113.7").status_code == 200
    key.refresh_from_db()
    assert key.last_used_ip == "203.0.113.7" and key.last_used_at is not None
    written_at = key.last_used_at
    # Within the minute another address is not written at once (no UPDATE per request).
    with CaptureQueriesContext(connection) as later:
        assert post_json(client, "/api/v1/intake", DEMO, REMOTE_ADDR="2001:db8::1").status_code == 202
    assert not [q for q in later if q["sql"].startswith('UPDATE "accounts_apikey"')]
    key.refresh_from_db()
    assert (key.last_used_ip, key.last_used_at) == ("203.0.113.7", written_at)
    assert len([q for q in first if q["sql"].startswith('UPDATE "accounts_apikey"')]) == 1

    # A minute later (this process's memo and the shared marker both lapsed), on the fast path.
    key_auth.reset()
    cache.delete(f"apikey-used:{key.pk}")
    assert post_json(client, "/api/v1/intake", DEMO, REMOTE_ADDR="2001:db8::1").status_code == 202
    key.refresh_from_db()
    assert key.last_used_ip == "2001:db8::1" and key.last_used_at > written_at
