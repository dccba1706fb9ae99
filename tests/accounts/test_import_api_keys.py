"""Moving from the old service: import_api_keys stores the env lists' keys hashed, and those
old keys (which do not start with lvk_) then authenticate; garbage costs at most one query."""

import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import ApiKey, ApiKeyEvent, User
from accounts.services.key_auth import api_key_authenticate, api_key_hash
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OLD = "sk-old-4f1d9c2b7e8a6b3c"
OLD_TOO = "legacy_KEY.2024+abcdefgh"
NEXT = "next/7e8a6b3c4f1d9c2b=="


def run(**options):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_api_keys", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def old_env(monkeypatch):
    monkeypatch.setenv("API_KEYS", f"{OLD}, {OLD_TOO},")
    monkeypatch.setenv("API_KEYS_NEXT", f"{NEXT},{OLD}")  # a key in both lists while clients move


def test_import_stores_hashes_and_the_old_keys_authenticate(old_env, client_for):
    out, _ = run(email="Ops@Example.com")
    assert "Created user ops@example.com" in out and "Imported 3 key(s), skipped 0" in out
    owner = User.objects.get(email="ops@example.com")
    keys = ApiKey.objects.filter(owner=owner)
    assert keys.count() == 3 and {k.name for k in keys} == {"imported"} and all(k.livemode for k in keys)
    assert {k.key_hash for k in keys} == {api_key_hash(raw) for raw in (OLD, OLD_TOO, NEXT)}
    for raw in (OLD, OLD_TOO, NEXT):
        assert raw not in out
        assert not ApiKey.objects.filter(prefix=raw).exists()
    client = client_for(OLD)
    assert client.get("/api/v1/jobs").status_code == 200
    response = post_json(client_for(NEXT, header="Bearer"), "/api/v1/intake", {"workflow": "demo.flow", "payload": {}})
    assert response.status_code == 202, response.content
    events = ApiKeyEvent.objects.filter(action="created", api_key__owner=owner)
    assert events.count() == 3 and all(e.actor is None and e.details["via"] == "import" for e in events)


def test_import_is_idempotent_and_counts_what_it_skipped(old_env, monkeypatch):
    existing = UserFactory(email="ops@example.com")
    run(email="ops@example.com")
    monkeypatch.setenv("API_KEYS", f"{OLD},another-old-key-0001")
    out, _ = run(email="ops@example.com")
    assert "Found user ops@example.com" in out
    assert "Imported 1 key(s), skipped 2 already imported, refused 0." in out  # OLD and NEXT again
    assert ApiKey.objects.filter(owner=existing).count() == 4


def test_keys_that_could_never_authenticate_are_refused_without_echoing_them(monkeypatch):
    monkeypatch.setenv("API_KEYS", "tiny1,zz blank zz 1234567")
    monkeypatch.setenv("API_KEYS_NEXT", OLD)
    out, err = run(email="ops@example.com")
    assert "Imported 1 key(s), skipped 0 already imported, refused 2." in out
    assert "Key #1 refused" in err and "Key #2 refused" in err and "tiny1" not in err and "blank" not in err
    assert ApiKey.objects.count() == 1


@pytest.mark.parametrize("env", [{}, {"API_KEYS": " , ", "API_KEYS_NEXT": ""}])
def test_nothing_to_import_is_an_error(monkeypatch, env):
    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.delenv("API_KEYS_NEXT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CommandError, match="nothing to import"):
        run(email="ops@example.com")
    assert not User.objects.exists()


def test_a_bad_email_is_refused(old_env):
    with pytest.raises(CommandError, match="not an email"):
        run(email="nope")
    assert not ApiKey.objects.exists()


def test_a_key_tried_before_its_import_works_right_after(old_env, client_for):
    assert_api_error(client_for(OLD).get("/api/v1/jobs"), 401, "invalid_api_key")  # a cached miss now
    run(email="ops@example.com")
    assert client_for(OLD).get("/api/v1/jobs").status_code == 200


def test_garbage_keys_cost_one_query_then_none(django_assert_num_queries):
    with django_assert_num_queries(1):
        assert api_key_authenticate("x" * 40) is None
    with django_assert_num_queries(0):
        assert api_key_authenticate("x" * 40) is None
    # Not even a lookup for values that cannot be keys.
    with django_assert_num_queries(0):
        for value in ("", "short", "x" * 101, "has space inside it", "ünïcode-key-value-long", "tab\tinside-the-key"):
            assert api_key_authenticate(value) is None
