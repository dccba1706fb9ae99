"""Rotation and revocation through the keys API and the rotate_api_key command: the old key
overlaps the new one for the grace period and then stops; a revocation stops a key at once,
in another process too; every change leaves an audit row saying who, when and from where."""

import io
import os
import select
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiKey, ApiKeyEvent
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import ApiKeyFactory, UserFactory
from tests.jobs.support import worker_env

pytestmark = pytest.mark.django_db

IP = "203.0.113.7"


@pytest.fixture
def owner_key(client_for):
    owner = UserFactory()
    created = ApiKeyFactory(owner=owner, name="main")
    client = client_for(created.raw_key)
    client.owner, client.key = owner, created
    return client


def _rotate(client, key_id, **body):
    return post_json(client, f"/api/v1/keys/{key_id}/rotate", body, REMOTE_ADDR=IP)


def test_rotation_overlaps_for_the_grace_period_then_the_old_key_stops(owner_key, client_for, clock):
    target = ApiKeyFactory(owner=owner_key.owner, name="ci", scopes=["jobs:read"])
    old = client_for(target.raw_key)
    assert old.get("/api/v1/jobs").status_code == 200  # cached in this process now

    response = _rotate(owner_key, target.pk, grace_seconds=3600)
    assert response.status_code == 201, response.content
    body = response.json()
    new = client_for(body["key"])
    assert body["key"].startswith("lvk_live_") and body["key"] != target.raw_key
    assert (body["name"], body["scopes"], body["rotated_from"]) == ("ci", ["jobs:read"], str(target.pk))
    assert body["previous_key"]["id"] == str(target.pk) and body["previous_key"]["status"] == "active"
    assert response["Location"] == f"/api/v1/keys/{body['id']}"

    # Both work while clients move over.
    assert old.get("/api/v1/jobs").status_code == 200
    assert new.get("/api/v1/jobs").status_code == 200
    clock.advance(3600 - 5)
    assert old.get("/api/v1/jobs").status_code == 200
    # The grace ends: the old key stops (from the cache, too), the new one goes on.
    clock.advance(10)
    assert_api_error(old.get("/api/v1/jobs"), 401, "invalid_api_key")
    assert new.get("/api/v1/jobs").status_code == 200
    listed = {k["id"]: k["status"] for k in owner_key.get("/api/v1/keys").json()["results"]}
    assert listed[str(target.pk)] == "expired" and listed[body["id"]] == "active"


def test_rotation_by_default_leaves_a_day_and_zero_stops_the_old_key_now(owner_key, client_for):
    target = ApiKeyFactory(owner=owner_key.owner, name="a")
    response = _rotate(owner_key, target.pk)
    assert response.status_code == 201
    expires = ApiKey.objects.get(pk=target.pk).expires_at
    assert abs((expires - timezone.now()) - timedelta(days=1)) < timedelta(seconds=30)

    other = ApiKeyFactory(owner=owner_key.owner, name="b")
    assert client_for(other.raw_key).get("/api/v1/jobs").status_code == 200  # cached
    response = _rotate(owner_key, other.pk, grace_seconds=0)
    assert response.status_code == 201
    assert_api_error(client_for(other.raw_key).get("/api/v1/jobs"), 401, "invalid_api_key")
    assert client_for(response.json()["key"]).get("/api/v1/jobs").status_code == 200


def test_a_key_can_rotate_itself_and_keeps_working_through_the_grace(owner_key, client_for):
    response = _rotate(owner_key, owner_key.key.pk, grace_seconds=60)
    assert response.status_code == 201
    assert owner_key.get("/api/v1/jobs").status_code == 200
    assert client_for(response.json()["key"]).get("/api/v1/keys").status_code == 200


def test_a_rotation_keeps_an_earlier_expiry_and_the_new_key_inherits_the_lifetime(owner_key):
    soon = timezone.now() + timedelta(minutes=10)
    target = ApiKeyFactory(owner=owner_key.owner, expires_at=soon)
    body = _rotate(owner_key, target.pk, grace_seconds=86400).json()
    assert ApiKey.objects.get(pk=target.pk).expires_at == soon
    assert ApiKey.objects.get(pk=body["id"]).expires_at == soon


@pytest.mark.parametrize("grace", [-1, 30 * 86400 + 1, "soon", None])
def test_a_bad_grace_period_is_refused(owner_key, grace):
    body = assert_api_error(_rotate(owner_key, owner_key.key.pk, grace_seconds=grace), 400, "validation_failed")
    assert [e["field"] for e in body["details"]["errors"]] == ["grace_seconds"]
    assert ApiKey.objects.count() == 1


def test_a_revoked_or_expired_key_cannot_be_rotated(owner_key):
    revoked = ApiKeyFactory(owner=owner_key.owner)
    assert post_json(owner_key, f"/api/v1/keys/{revoked.pk}/revoke", {}).status_code == 200
    assert_api_error(_rotate(owner_key, revoked.pk), 409, "key_not_active")
    expired = ApiKeyFactory(owner=owner_key.owner, expires_at=timezone.now() - timedelta(seconds=1))
    assert_api_error(_rotate(owner_key, expired.pk), 409, "key_not_active")


def test_revoke_stops_the_key_at_once_and_is_idempotent(owner_key, client_for):
    target = ApiKeyFactory(owner=owner_key.owner)
    client = client_for(target.raw_key)
    assert client.get("/api/v1/jobs").status_code == 200  # cached
    response = post_json(owner_key, f"/api/v1/keys/{target.pk}/revoke", {}, REMOTE_ADDR=IP)
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    assert_api_error(client.get("/api/v1/jobs"), 401, "invalid_api_key")
    again = post_json(owner_key, f"/api/v1/keys/{target.pk}/revoke", {})
    assert again.status_code == 200 and again.json()["revoked_at"] == response.json()["revoked_at"]
    assert ApiKeyEvent.objects.filter(api_key=target, action="revoked").count() == 1


# --- audit ------------------------------------------------------------------------------------

def test_create_rotate_and_revoke_are_audited_with_who_when_and_ip(owner_key):
    before = timezone.now()
    created = post_json(owner_key, "/api/v1/keys", {"name": "deploy"}, REMOTE_ADDR=IP).json()
    rotated = _rotate(owner_key, created["id"], grace_seconds=0).json()
    post_json(owner_key, f"/api/v1/keys/{rotated['id']}/revoke", {}, REMOTE_ADDR=IP)

    events = list(ApiKeyEvent.objects.filter(at__gte=before).order_by("at", "id"))
    assert [(str(e.api_key_id), e.action) for e in events] == [
        (created["id"], "created"), (rotated["id"], "created"), (created["id"], "rotated"), (rotated["id"], "revoked")]
    for event in events:
        assert (event.actor, event.ip, event.details["via"]) == (owner_key.owner, IP, "api")
        assert event.details["by_key"] == str(owner_key.key.pk)
        assert before <= event.at <= timezone.now()
    assert events[2].details["replaced_by"] == rotated["id"] and events[2].details["grace_seconds"] == 0
    assert events[1].details["rotated_from"] == created["id"]
    assert events[0].key_prefix == created["prefix"]


def test_the_key_records_the_address_it_was_last_used_from(owner_key):
    owner_key.get("/api/v1/jobs", REMOTE_ADDR=IP)
    assert ApiKey.objects.get(pk=owner_key.key.pk).last_used_ip == IP


# --- rotate_api_key -------------------------------------------------------------------------------

def test_rotate_api_key_prints_the_new_key_last_and_audits_no_actor(client_for):
    target = ApiKeyFactory(owner=UserFactory(), name="cron", scopes=["jobs:read"])
    out = io.StringIO()
    call_command("rotate_api_key", "--key-id", str(target.pk), "--grace-seconds", "0", stdout=out)
    lines = out.getvalue().strip().splitlines()
    raw = lines[-1]
    assert raw.startswith("lvk_live_") and raw not in "\n".join(lines[:-1])
    new = ApiKey.objects.get(rotated_from=target)
    assert (new.name, new.scopes) == ("cron", ["jobs:read"])
    assert client_for(raw).get("/api/v1/jobs").status_code == 200
    assert_api_error(client_for(target.raw_key).get("/api/v1/jobs"), 401, "invalid_api_key")
    event = ApiKeyEvent.objects.get(api_key=target, action="rotated")
    assert event.actor is None and event.details["via"] == "command"


@pytest.mark.parametrize("args", [["--key-id", "nope"], ["--key-id", "00000000-0000-0000-0000-000000000000"]])
def test_rotate_api_key_refuses_an_unknown_key(args):
    with pytest.raises(CommandError, match="no API key"):
        call_command("rotate_api_key", *args, stdout=io.StringIO())


def test_rotate_api_key_refuses_a_negative_grace():
    target = ApiKeyFactory(owner=UserFactory())
    with pytest.raises(CommandError, match="grace-seconds"):
        call_command("rotate_api_key", "--key-id", str(target.pk), "--grace-seconds", "-5",
                     stdout=io.StringIO())
    assert ApiKey.objects.count() == 1


# --- another process --------------------------------------------------------------------------------

_AUTH_LOOP = """
import sys, django
django.setup()
from accounts.services.key_auth import api_key_authenticate
print("ready", flush=True)
for line in sys.stdin:
    print("ok" if api_key_authenticate(line.strip()) else "refused", flush=True)
"""


def _ask(process, raw_key, deadline_seconds=30):
    process.stdin.write(raw_key + "\n")
    process.stdin.flush()
    return _line(process, deadline_seconds)


def _line(process, deadline_seconds=60):
    ready, _, _ = select.select([process.stdout], [], [], deadline_seconds)
    assert ready, "the other process did not answer in time"
    return process.stdout.readline().strip()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_revocation_bites_at_once_in_another_process(owner_key):
    target = ApiKeyFactory(owner=owner_key.owner)
    process = subprocess.Popen([sys.executable, "-c", _AUTH_LOOP], env=worker_env(), cwd=os.getcwd(),  # noqa: S603
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _line(process) == "ready"
        assert _ask(process, target.raw_key) == "ok"  # the other process has it cached now
        assert _ask(process, target.raw_key) == "ok"
        assert post_json(owner_key, f"/api/v1/keys/{target.pk}/revoke", {}).status_code == 200
        assert _ask(process, target.raw_key) == "refused"
        assert _ask(process, _raw(owner_key)) == "ok"  # the owner's other key still works
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def _raw(client):
    return client._credentials["HTTP_X_API_KEY"]
