"""API keys: how they are made and stored, the create_api_key and demo_setup commands, the
email rules of users, last-use bookkeeping and immediate revocation."""

import hashlib
import io
import re
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import DEFAULT_SCOPES, ApiKey, User
from accounts.services import key_auth
from accounts.services.key_auth import api_key_authenticate, api_key_cache_key, api_key_hash
from accounts.services.keys import api_key_create, api_key_revoke
from accounts.services.users import user_get_or_create
from tests.api_asserts import assert_api_error
from tests.concurrency import run_together
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db

LIVE_KEY = re.compile(r"^lvk_live_[0-9a-f]{32}$")
TEST_KEY = re.compile(r"^lvk_test_[0-9a-f]{32}$")
DEMO = {"workflow": "demo.flow", "payload": {}}


def run(command, *args, **options) -> list[str]:
    out = io.StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue().strip().splitlines()


def every_stored_value():
    """Every value in every row of every table the project's models own."""
    for model in apps.get_models():
        for row in model._default_manager.values_list():
            yield from (str(v) for v in row)


# --- keys -------------------------------------------------------------------------------------

def test_keys_have_128_random_bits_and_a_mode_prefix(user):
    live = {api_key_create(owner=user).raw_key for _ in range(20)}
    test = {api_key_create(owner=user, livemode=False).raw_key for _ in range(20)}
    assert all(LIVE_KEY.match(k) for k in live) and all(TEST_KEY.match(k) for k in test)
    assert len(live | test) == 40  # 32 hex digits = 128 bits, never repeated


def test_only_the_hash_and_a_short_prefix_are_stored(user):
    created = api_key_create(owner=user, name="ci")
    raw, secret = created.raw_key, created.raw_key[len("lvk_live_"):]
    key = ApiKey.objects.get(pk=created.api_key.pk)
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert key.prefix == raw[:13] and len(key.prefix) < len(raw)
    assert not any(secret in value or raw in value for value in every_stored_value())


def test_the_key_authenticates_only_as_itself(user):
    created = api_key_create(owner=user)
    assert api_key_authenticate(created.raw_key) == created.api_key
    assert api_key_authenticate(created.raw_key.upper()) is None
    assert api_key_authenticate(created.raw_key + "0") is None
    assert api_key_authenticate(" ") is None


# --- create_api_key -----------------------------------------------------------------------------

def test_create_api_key_creates_the_user_and_prints_the_key_last(client_for):
    lines = run("create_api_key", email="  New.Person@Example.COM ", name="laptop")
    raw = lines[-1]
    assert LIVE_KEY.match(raw)
    user = User.objects.get()
    assert user.email == "new.person@example.com"
    key = ApiKey.objects.get()
    assert (key.owner, key.name, key.livemode) == (user, "laptop", True)
    assert raw not in "\n".join(lines[:-1])  # shown once, alone on its line
    response = post_json(client_for(raw), "/api/v1/intake", DEMO)
    assert response.status_code == 202, response.content


def test_create_api_key_test_mode_for_an_existing_user_any_case(user, client_for):
    lines = run("create_api_key", "--test", email=user.email.upper())
    assert TEST_KEY.match(lines[-1])
    assert User.objects.count() == 1 and ApiKey.objects.get().owner == user
    assert ApiKey.objects.get().livemode is False
    assert client_for(lines[-1]).post("/api/v1/jobs", DEMO, format="json").json()["livemode"] is False


def test_create_api_key_gives_the_scopes_asked_for(client_for):
    UserFactory(email="ops@example.com", is_staff=True)  # admin:read: staff only
    raw = run("create_api_key", email="ops@example.com", scopes=" jobs:read,admin:read,jobs:read")[-1]
    assert ApiKey.objects.get().scopes == ["jobs:read", "admin:read"]
    assert client_for(raw).get("/api/v1/jobs").status_code == 200
    assert client_for(raw).get("/api/v1/analytics").status_code == 200  # admin:read
    refused = post_json(client_for(raw), "/api/v1/intake", DEMO)
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize("existing", [False, True])
def test_create_api_key_refuses_admin_read_for_a_user_who_is_not_staff(existing):
    if existing:
        UserFactory(email="someone@example.com")
    with pytest.raises(CommandError, match="Only Levqor staff may hold a key with admin:read"):
        run("create_api_key", email="someone@example.com", scopes="jobs:read,admin:read")
    assert not ApiKey.objects.exists()
    assert User.objects.count() == (1 if existing else 0)  # no user made for a refused key


def test_create_api_key_without_scopes_gives_the_default_ones():
    run("create_api_key", email="dev@example.com")
    assert ApiKey.objects.get().scopes == list(DEFAULT_SCOPES)


@pytest.mark.parametrize(("scopes", "message"), [
    ("jobs:read,jobs:delete", "Unknown scope jobs:delete; the scopes are jobs:read, jobs:write, users:read"),
    ("admin", "Unknown scope admin;"), (" , ", "--scopes needs at least one of jobs:read"),
])
def test_create_api_key_refuses_unknown_scopes_and_makes_nothing(scopes, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_api_key", email="dev@example.com", scopes=scopes)
    assert not User.objects.exists() and not ApiKey.objects.exists()


@pytest.mark.parametrize("email", ["not-an-email", "", "a@", "@example.com", "a b@example.com"])
def test_create_api_key_refuses_a_bad_email(email):
    with pytest.raises(CommandError):
        run("create_api_key", email=email)
    assert not User.objects.exists() and not ApiKey.objects.exists()


# --- users' emails ----------------------------------------------------------------------------

def test_emails_are_one_user_whatever_their_case():
    first, created = user_get_or_create(email="A@X.com")
    again, created_again = user_get_or_create(email=" a@x.COM ")
    assert created and not created_again and first == again and first.email == "a@x.com"
    assert User.objects.count() == 1


def test_the_database_refuses_two_emails_differing_only_in_case():
    User.objects.create(email="Case@Example.com")  # bypassing the manager's normalisation
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="case@example.com")


def test_get_or_create_finds_a_user_stored_with_capitals():
    # Rows written before normalisation (or by hand) must still be found, not duplicated.
    legacy = User.objects.create(email="Old.User@Example.com")
    user, created = user_get_or_create(email="old.user@example.com")
    assert user == legacy and not created


@pytest.mark.django_db(transaction=True)
def test_concurrent_creation_of_one_user_gives_one_user():
    results, errors = run_together(lambda: user_get_or_create(email="race@example.com")[0].pk, threads=4)
    assert not errors, errors
    assert len(set(results)) == 1 and User.objects.count() == 1


# --- last_used_at -----------------------------------------------------------------------------

def _key_updates(queries):
    return [q["sql"] for q in queries if q["sql"].startswith('UPDATE "accounts_apikey"')]


def test_last_used_at_is_written_at_most_once_a_minute(key_pair, client_for):
    user, raw = key_pair
    client = client_for(raw)
    key = ApiKey.objects.get(owner=user)
    assert key.last_used_at is None
    before = timezone.now()
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/jobs").status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_at >= before
    assert len(_key_updates(first)) == 1
    for _ in range(3):
        with CaptureQueriesContext(connection) as later:
            assert client.get("/api/v1/jobs").status_code == 200
        assert _key_updates(later) == []
        assert len(later) == 1  # only the list itself: the key came from the cache


def test_a_cached_key_carries_its_owner_whole_and_an_unreadable_entry_is_a_miss(key_pair):
    user, raw = key_pair
    first = api_key_authenticate(raw)  # from the database, now cached
    with CaptureQueriesContext(connection) as queries:
        cached = api_key_authenticate(raw)
    assert len(queries) == 0
    assert (cached.pk, cached.livemode, cached.owner.pk, cached.owner.email, cached.owner.tier) == (
        first.pk, first.livemode, user.pk, user.email, user.tier)
    assert not cached._state.adding and cached.owner._state.db == "default"

    # What another version of the models (other fields) left in the cache is read as a miss.
    cache_key = api_key_cache_key(api_key_hash(raw))
    cache.set(cache_key, ("another-layout", (1, 2), (3,)), 60)
    key_auth.reset()  # a fresh process: no copy of its own in front of the shared cache
    with CaptureQueriesContext(connection) as queries:
        assert api_key_authenticate(raw).pk == first.pk
    assert len(queries) == 1, "loaded from the database again"
    assert cache.get(cache_key)[0] != "another-layout", "and cached again in this version's layout"


# --- revocation and expiry ------------------------------------------------------------------------

def test_revoking_bites_at_once_even_with_the_key_cached(key_pair, client_for):
    user, raw = key_pair
    client = client_for(raw)
    assert client.get("/api/v1/jobs").status_code == 200  # cached now
    other_key = api_key_create(owner=user).raw_key
    api_key_revoke(api_key=ApiKey.objects.get(owner=user, prefix=raw[:13]))
    assert_api_error(client.get("/api/v1/jobs"), 401, "invalid_api_key")
    assert_api_error(post_json(client, "/api/v1/intake", DEMO), 401, "invalid_api_key")
    assert client_for(other_key).get("/api/v1/jobs").status_code == 200  # the owner's other keys still work


def test_an_expiry_set_in_the_admin_bites_at_once(operator, key_pair, client_for):
    user, raw = key_pair
    client = client_for(raw)
    assert client.get("/api/v1/jobs").status_code == 200  # cached now
    key = ApiKey.objects.get(owner=user)
    past = timezone.now() - timedelta(minutes=5)
    response = operator.post(reverse("admin:accounts_apikey_change", args=[key.pk]),
                             {"name": "renamed", "scopes": key.scopes, "expires_at_0": past.strftime("%Y-%m-%d"),
                              "expires_at_1": past.strftime("%H:%M:%S")})
    assert response.status_code == 302, response.context["adminform"].form.errors
    key.refresh_from_db()
    assert key.name == "renamed" and key.expires_at is not None
    assert_api_error(client.get("/api/v1/jobs"), 401, "invalid_api_key")


def test_deactivating_a_user_in_the_admin_stops_their_keys_at_once(operator, key_pair, client_for):
    user, raw = key_pair
    client = client_for(raw)
    assert client.get("/api/v1/jobs").status_code == 200  # cached now
    response = operator.post(reverse("admin:accounts_user_change", args=[user.pk]), {
        "email": user.email, "name": user.name, "locale": user.locale, "currency": user.currency, "meta": "{}", "tier": user.tier,
        "is_active": "", "api_keys-TOTAL_FORMS": "1", "api_keys-INITIAL_FORMS": "1",
        "api_keys-MIN_NUM_FORMS": "0", "api_keys-MAX_NUM_FORMS": "1000",
        "api_keys-0-id": str(ApiKey.objects.get(owner=user).pk), "api_keys-0-owner": str(user.pk),
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.is_active is False
    assert_api_error(client.get("/api/v1/jobs"), 401, "invalid_api_key")


# --- demo_setup -----------------------------------------------------------------------------------

def test_demo_setup_prints_a_working_test_key_once(settings, client_for):
    settings.EMBEDDED_MODE = True
    settings.DEMO_USER_EMAIL = "demo@levqor.local"
    out = "\n".join(run("demo_setup"))
    keys = re.findall(r"lvk_\w+", out)
    assert keys and set(keys) == {keys[0]} and TEST_KEY.match(keys[0])
    demo = User.objects.get(email="demo@levqor.local")
    assert ApiKey.objects.get(owner=demo).livemode is False

    response = post_json(client_for(keys[0]), "/api/v1/intake", {"workflow": "demo.flow", "payload": {"hello": "world"}})
    assert response.status_code == 202, response.content

    second = "\n".join(run("demo_setup"))
    assert "lvk_" not in second and "create_api_key" in second
    assert User.objects.count() == 1 and ApiKey.objects.count() == 1


def test_demo_setup_does_nothing_outside_embedded_mode(settings):
    settings.EMBEDDED_MODE = False
    assert run("demo_setup") == []
    assert not User.objects.exists()


def test_demo_setup_leaves_an_existing_demo_user_alone(settings):
    settings.EMBEDDED_MODE = True
    existing = UserFactory(email=settings.DEMO_USER_EMAIL)
    api_key_for(existing)
    assert "lvk_" not in "\n".join(run("demo_setup"))
    assert ApiKey.objects.count() == 1


def test_demo_setup_prints_the_site_url_the_sign_in_links_use(settings):
    settings.EMBEDDED_MODE = True
    settings.SITE_URL = "http://127.0.0.1:9123"
    out = "\n".join(run("demo_setup"))
    assert "curl -s -X POST http://127.0.0.1:9123/api/v1/intake " in out
