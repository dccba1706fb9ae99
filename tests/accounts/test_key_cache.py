"""The intake's one round trip (issue 14): API keys kept in each process, stamped with the keys'
generation that every change replaces (so a change made in any process bites on the next request
in every other); the rate limits, the generation and the monthly quota counted in one script; a
quota hit taken back when its request was answered before its key was checked; and, on Redis, at
most two round trips per intake (the counters' trip and the run token), counted on the connection."""

import json
import os
import select
import subprocess
import sys
from contextlib import contextmanager

import pytest
import redis.connection
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.quotas import month_of, usage_cache_key
from accounts.services import key_auth
from accounts.services.key_auth import GENERATION_KEY, api_key_authenticate, api_key_cache_key, api_key_hash
from tests.api_asserts import assert_api_error
from tests.factories import api_key_for
from tests.jobs.support import worker_env

pytestmark = pytest.mark.django_db

INTAKE = json.dumps({"workflow": "demo.flow", "payload": {}})


def _intake(raw, **extra):
    return Client().post("/api/v1/intake", data=INTAKE, content_type="application/json", HTTP_X_API_KEY=raw,
                         **extra)


def _calls(user) -> int | None:
    return cache.get(usage_cache_key(user.pk, month_of(timezone.now())))


def _elsewhere(change):
    """`change` made by another process: in the database and the shared cache only (the shared
    entry dropped, the generation replaced, as that process's api_key_cache_forget does), nothing
    in this process's memory."""
    change()
    cache.delete(api_key_cache_key_of_all())
    cache.set(GENERATION_KEY, key_auth._generation_new(), None)


def api_key_cache_key_of_all():
    return [api_key_cache_key(k) for k in ApiKey.objects.values_list("key_hash", flat=True)][0]


def test_a_known_key_costs_no_query_nor_shared_entry():
    _, raw = api_key_for()
    assert _intake(raw).status_code == 202
    cache.delete(api_key_cache_key(api_key_hash(raw)))  # the shared entry gone: this process's copy serves
    with CaptureQueriesContext(connection) as queries:
        assert _intake(raw).status_code == 202
    assert not [q for q in queries if "accounts_apikey" in q["sql"] and q["sql"].startswith("SELECT")]
    assert cache.get(api_key_cache_key(api_key_hash(raw))) is None


def test_a_revocation_in_another_process_is_refused_by_the_next_request_here():
    user, raw = api_key_for()
    assert _intake(raw).status_code == 202  # known in this process now
    _elsewhere(lambda: ApiKey.objects.filter(owner=user).update(revoked_at=timezone.now()))
    assert_api_error(_intake(raw), 401, "invalid_api_key")


def test_an_owner_deactivated_or_downgraded_elsewhere_bites_at_once(settings):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "pro": 100, "sandbox": 1}
    user, raw = api_key_for()
    User.objects.filter(pk=user.pk).update(tier="pro")
    key_auth.api_key_cache_forget()
    assert [_intake(raw).status_code for _ in range(2)] == [202, 202]
    _elsewhere(lambda: User.objects.filter(pk=user.pk).update(tier="sandbox"))
    assert_api_error(_intake(raw), 429, "quota_exceeded", extra_keys=frozenset({"reset_at"}))  # sandbox: 1
    _elsewhere(lambda: User.objects.filter(pk=user.pk).update(is_active=False))
    assert_api_error(_intake(raw), 401, "invalid_api_key")


def test_without_the_change_being_announced_a_copy_lives_a_few_seconds_only(monkeypatch):
    user, raw = api_key_for()
    assert _intake(raw).status_code == 202
    ApiKey.objects.filter(owner=user).update(revoked_at=timezone.now())  # behind the services' back
    cache.delete(api_key_cache_key(api_key_hash(raw)))
    assert _intake(raw).status_code == 202  # this process's copy, still of the current generation
    later = key_auth.time.monotonic() + key_auth.LOCAL_KEY_SECONDS
    monkeypatch.setattr(key_auth.time, "monotonic", lambda: later)
    assert_api_error(_intake(raw), 401, "invalid_api_key")


def test_a_shared_entry_of_an_older_generation_is_not_used():
    """A process that read the key before a change and cached it after the change's forget must
    not serve the old row: its entry carries the generation it was read under."""
    user, raw = api_key_for()
    digest = api_key_hash(raw)
    old = key_auth._generation(None)
    stale = ApiKey.objects.select_related("owner").get(owner=user)
    key_auth.api_key_cache_forget(digest)  # the change's forget: a new generation
    ApiKey.objects.filter(owner=user).update(revoked_at=timezone.now())
    cache.set(api_key_cache_key(digest), key_auth._key_record(stale, old), 60)  # the late write
    assert api_key_authenticate(raw) is None


def test_a_request_gets_its_own_instances_of_a_known_key():
    _, raw = api_key_for()
    first = api_key_authenticate(raw)
    first.name = "changed by a view"
    first.owner.tier = "enterprise"
    first.scopes.append("admin:read")
    again = api_key_authenticate(raw)
    assert again is not first and again.owner is not first.owner
    assert (again.name, again.owner.tier, "admin:read" in again.scopes) != ("changed by a view", "enterprise", True)
    assert not again._state.adding and again.owner._state.db == "default"


# --- the quota in the counters' trip ---------------------------------------------------------------

def test_the_trip_counts_the_quota_exactly_at_its_limit(settings):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "sandbox": 3}
    user, raw = api_key_for()
    answers = [_intake(raw).status_code for _ in range(5)]
    assert answers == [202, 202, 202, 429, 429]
    assert _calls(user) == 3  # refused calls are not counted


def test_a_quota_hit_is_taken_back_when_the_request_never_reached_its_key_check():
    user, raw = api_key_for()
    assert _intake(raw).status_code == 202
    assert _calls(user) == 1
    too_big = Client().post("/api/v1/intake", data="x" * (600 * 1024), content_type="application/json",
                            HTTP_X_API_KEY=raw)
    assert too_big.status_code == 413
    assert _calls(user) == 1
    assert _intake(raw).status_code == 202
    assert _calls(user) == 2


def test_a_rate_limited_intake_counts_no_quota(settings):
    settings.RATELIMIT_PER_KEY_BY_TIER = {tier: 2 for tier in settings.RATELIMIT_PER_KEY_BY_TIER}
    user, raw = api_key_for()
    answers = [_intake(raw, REMOTE_ADDR="198.51.100.9").status_code for _ in range(4)]
    assert answers == [202, 202, 429, 429]
    assert _calls(user) == 2


def test_reading_usage_is_not_counted_early():
    user, raw = api_key_for()
    assert _intake(raw).status_code == 202
    usage = Client(HTTP_X_API_KEY=raw).get("/api/v1/usage").json()
    assert usage["calls_used"] == 1
    assert _calls(user) == 1


# --- round trips on Redis --------------------------------------------------------------------------

@contextmanager
def _round_trips():
    """Count what this process sends to Redis: one send per command, or per pipeline."""
    sent = []
    cls = redis.connection.AbstractConnection
    original = cls.send_packed_command

    def counted(self, command, *args, **kwargs):
        sent.append(command)
        return original(self, command, *args, **kwargs)

    cls.send_packed_command = counted
    try:
        yield sent
    finally:
        cls.send_packed_command = original


@pytest.mark.redis
def test_an_intake_makes_at_most_two_round_trips_to_redis(django_capture_on_commit_callbacks):
    user, raw = api_key_for()
    # the key known in this process; its last use and the count's minute written; the run tokens'
    # connection made
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            assert _intake(raw).status_code == 202
    with _round_trips() as sent, django_capture_on_commit_callbacks(execute=True) as run_tokens:
        answers = [_intake(raw).status_code for _ in range(10)]
    assert answers == [202] * 10
    assert len(run_tokens) >= 10  # the run tokens' pushes are counted too
    assert len(sent) <= 20, f"{len(sent)} round trips for 10 intakes"
    # The once-a-second read of the intake's limit (queue_max) and the once-a-minute markers (the
    # key's last use, the quota count's durable write) ride in the counters' trip: still two.
    key = ApiKey.objects.get(owner=user)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    for _ in range(3):
        _memos_expire(key, user)
        with _round_trips() as sent, django_capture_on_commit_callbacks(execute=True):
            assert _intake(raw).status_code == 202
        assert len(sent) <= 2, f"{len(sent)} round trips for an intake whose memos ran out: {sent}"
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None  # the minute's write was still done


def _memos_expire(key, user):
    """As a second, and a minute, later in this process: the runtime setting's memo and
    backpressure's count ran out, the key's last use and the owner's count are due again."""
    from accounts.services import usage
    from intelligence.services import runtime
    from jobs import backpressure

    runtime._memo.update({name: (stamp - 2 * runtime.PROCESS_MEMO_SECONDS, value)
                          for name, (stamp, value) in runtime._memo.items()})
    backpressure.reset()
    key_auth._last_used_asked.clear()
    usage.reset()
    cache.delete_many([f"apikey-used:{key.pk}"] + [k for k in cache.keys(f"usage-written:{user.pk}:*")])


@pytest.mark.redis
def test_a_changed_intake_limit_read_in_the_counters_trip_applies_at_the_next_refresh():
    from intelligence.services import runtime
    from jobs import backpressure

    user, raw = api_key_for()
    for _ in range(3):
        assert _intake(raw).status_code == 202
    assert runtime._memo["queue_max"][1] == 5000
    cache.set("runtime-setting:queue_max", {"v": 1}, None)  # as another process's change leaves it, re-read
    try:
        runtime._memo["queue_max"] = (runtime._memo["queue_max"][0] - 2 * runtime.PROCESS_MEMO_SECONDS, 5000)
        backpressure.reset()
        with _round_trips() as sent:
            answer = _intake(raw)
        assert_api_error(answer, 503, "queue_full")  # three due jobs wait, the limit is now 1
        assert len(sent) == 1  # the counters' trip read the limit; a refused intake sends no run token
        assert runtime._memo["queue_max"][1] == 1
    finally:
        cache.delete("runtime-setting:queue_max")
        runtime.reset()
        backpressure.reset()


def test_a_last_use_marker_set_in_the_trip_for_a_request_that_never_checked_its_key_is_removed():
    user, raw = api_key_for()
    assert _intake(raw).status_code == 202  # the key known in this process
    key = ApiKey.objects.get(owner=user)
    cache.delete(f"apikey-used:{key.pk}")
    key_auth._last_used_asked.clear()
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    assert Client().get("/api/v1/no-such-thing", HTTP_X_API_KEY=raw).status_code == 404
    assert cache.get(f"apikey-used:{key.pk}") is None  # the next request still writes the minute's last use
    assert _intake(raw).status_code == 202
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


# --- another process --------------------------------------------------------------------------------

_INTAKE_LOOP = """
import sys, django
django.setup()
from django.test import Client
print("ready", flush=True)
for line in sys.stdin:
    answer = Client().post("/api/v1/intake", data='{"workflow": "demo.flow", "payload": {}}',
                           content_type="application/json", HTTP_X_API_KEY=line.strip())
    print(answer.status_code, flush=True)
"""


def _ask(process, raw_key):
    process.stdin.write(raw_key + "\n")
    process.stdin.flush()
    return _line(process)


def _line(process, deadline_seconds=60):
    ready, _, _ = select.select([process.stdout], [], [], deadline_seconds)
    assert ready, "the other process did not answer in time"
    return process.stdout.readline().strip()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_an_intake_in_another_process_is_refused_right_after_a_revocation_here():
    user, raw = api_key_for()
    process = subprocess.Popen([sys.executable, "-c", _INTAKE_LOOP], env=worker_env(), cwd=os.getcwd(),  # noqa: S603
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _line(process) == "ready"
        assert [_ask(process, raw) for _ in range(3)] == ["202"] * 3  # known there now
        from accounts.services.keys import api_key_revoke

        api_key_revoke(api_key=ApiKey.objects.get(owner=user))
        assert _ask(process, raw) == "401"
    finally:
        process.stdin.close()
        process.wait(timeout=30)


_INTAKES = """
import json, os, sys, django
django.setup()
from django.test import Client
client = Client(HTTP_X_API_KEY=os.environ["QUOTA_TEST_KEY"])
body = '{"workflow": "demo.flow", "payload": {}}'
print(json.dumps([client.post("/api/v1/intake", data=body, content_type="application/json").status_code
                  for _ in range(int(sys.argv[1]))]))
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_two_processes_counting_intakes_in_their_trips_stop_exactly_at_the_quota(settings):
    settings.API_MONTHLY_QUOTAS = {**settings.API_MONTHLY_QUOTAS, "sandbox": 30}
    user, raw = api_key_for()
    env = {**worker_env(), "API_QUOTA_SANDBOX": "30", "QUOTA_TEST_KEY": raw}
    other = subprocess.Popen([sys.executable, "-c", _INTAKES, "25"], env=env, cwd=settings.BASE_DIR,  # noqa: S603
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        here = [_intake(raw).status_code for _ in range(25)]
        out, err = other.communicate(timeout=120)
    finally:
        other.kill()
    assert other.returncode == 0, err
    there = json.loads(out.strip().splitlines()[-1])
    assert set(here + there) <= {202, 429}
    assert here.count(202) + there.count(202) == 30, (here, there)
    assert _calls(user) == 30


# --- Changes saved inside a transaction, and deletions (review of issue 14) -----------------------

def _auth_as_another_process(raw, out):
    """A request served meanwhile by another process: its own connection, nothing of this one's copies."""
    import threading

    from django.db import connections

    def run():
        try:
            key_auth._local_keys.clear()
            out.append(api_key_authenticate(raw))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


@pytest.mark.django_db(transaction=True)
def test_an_owner_deactivated_in_a_transaction_is_refused_after_the_commit_though_read_before_it():
    # The admin's change form saves in a transaction: a request elsewhere between the save and the
    # commit reads the old row under the new generation; the forget after the commit drops it.
    from django.db import transaction

    user, raw = api_key_for()
    assert api_key_authenticate(raw) is not None
    seen = []
    with transaction.atomic():
        user.is_active = False
        user.save()
        _auth_as_another_process(raw, seen)
    assert seen[0] is not None, "before the commit the old row is what there is"
    key_auth._local_keys.clear()
    assert api_key_authenticate(raw) is None


@pytest.mark.django_db(transaction=True)
def test_a_key_expired_in_a_transaction_is_refused_after_the_commit():
    from django.db import transaction

    user, raw = api_key_for()
    key = ApiKey.objects.get(owner=user)
    assert api_key_authenticate(raw) is not None
    seen = []
    with transaction.atomic():
        key.expires_at = timezone.now()
        key.save()
        key_auth.api_key_cache_forget(key.key_hash)
        _auth_as_another_process(raw, seen)
    key_auth._local_keys.clear()
    assert api_key_authenticate(raw) is None


def test_a_deleted_key_is_refused_on_the_next_request_everywhere():
    user, raw = api_key_for()
    assert api_key_authenticate(raw) is not None  # cached, shared and local
    ApiKey.objects.filter(owner=user).delete()
    key_auth._local_keys.clear()  # another process (or this one once its copy is old)
    assert api_key_authenticate(raw) is None


def test_a_deleted_owner_s_keys_are_refused_on_the_next_request():
    user, raw = api_key_for()
    assert api_key_authenticate(raw) is not None
    user.delete()
    key_auth._local_keys.clear()
    assert api_key_authenticate(raw) is None
