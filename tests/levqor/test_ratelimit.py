"""Rate limits at their boundaries, per client IP, globally, on the sensitive prefixes and per
API key by tier; headers on refusals and successes; shared across processes on Redis."""

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from levqor import counters as hit_counters
from tests.api_asserts import assert_api_error
from tests.conftest import UNREACHABLE_REDIS_CACHE
from tests.factories import UserFactory, api_key_for
from tests.jobs.support import worker_env

BIG = 10_000


@pytest.fixture
def limits(settings):
    """Small limits for one test; the rest out of the way."""
    def set_(*, writes=BIG, global_=BIG, sensitive=BIG, sandbox=BIG, pro=BIG, enterprise=BIG):
        settings.RATELIMIT_WRITES_PER_IP = writes
        settings.RATELIMIT_GLOBAL = global_
        settings.RATELIMIT_SENSITIVE_PER_IP = sensitive
        settings.RATELIMIT_PER_KEY_BY_TIER = {"sandbox": sandbox, "pro": pro, "enterprise": enterprise}
    return set_


def _post(client, path="/api/v1/jobs", ip="198.51.100.1", **extra):
    return client.post(path, data="{}", content_type="application/json", REMOTE_ADDR=ip, **extra)


def _assert_limited(response, limit):
    body = assert_api_error(response, 429, "rate_limited")
    assert body["details"]["limit"] == limit
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response["X-RateLimit-Limit"] == str(limit)
    assert response["X-RateLimit-Remaining"] == "0"
    reset = int(response["X-RateLimit-Reset"])
    now = timezone.now().timestamp()  # Django's clock, which the limits count by
    assert now - 1 <= reset <= now + 61
    return body


@pytest.fixture
def frozen_clock(monkeypatch):
    """Django's clock stopped at the current second, moved only by the test (clock.advance), so no
    window ends in the middle of a test."""
    now = [datetime.fromtimestamp(int(time.time()), UTC)]

    class Clock:
        @property
        def epoch(self) -> int:
            return int(now[0].timestamp())

        def advance(self, seconds):
            now[0] += timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", lambda: now[0])
    return Clock()


@dataclass(frozen=True)
class Bucket:
    """One limit at its boundary: `limit` requests into one bucket are answered by the view, the
    next is refused, and requests into other buckets are not."""

    limits: dict  # for the limits fixture
    limit: int  # the one that bites, and that the answers' X-RateLimit-* show
    scope: str  # its group, named in the refusal
    within: Callable  # within(client, key, n): the n-th request into the bucket
    passes: tuple  # what the view answers such a request
    over: Callable  # over(client, key): one more into the same bucket, asked differently
    apart: tuple = ()  # (ask(client, key), statuses): requests into other buckets
    tier: str = "sandbox"  # the tier of the owner of `key`
    trusted_proxies: tuple = ()


_PROXY = ("10.0.0.0/8",)
BUCKETS = {
    "writes per IP": Bucket(
        {"writes": 20}, 20, "api-writes-ip",
        within=lambda c, k, n: _post(c), passes=(401,),  # refused by auth, but counted: limits come first
        over=lambda c, k: _post(c),
        apart=((lambda c, k: _post(c, ip="198.51.100.2"), (401,)),
               # Reads are not writes: the same IP may still read.
               (lambda c, k: c.get("/api/v1/jobs", REMOTE_ADDR="198.51.100.1"), (401,)))),
    "all of /api/ together": Bucket(
        {"global_": 3}, 3, "api-global",
        within=lambda c, k, n: c.get("/api/v1/workflows", REMOTE_ADDR=f"198.51.100.{n}"), passes=(401,),
        over=lambda c, k: c.get("/api/v1/workflows", REMOTE_ADDR="198.51.100.99")),
    "sensitive prefixes per IP": Bucket(
        {"sensitive": 2}, 2, "sensitive-ip",
        # GET on the billing portal's form: a redirect to sign in, counted all the same.
        within=lambda c, k, n: c.get("/billing/manage", REMOTE_ADDR="198.51.100.1"), passes=(302,),
        over=lambda c, k: c.get("/billing/health", REMOTE_ADDR="198.51.100.1"),
        apart=((lambda c, k: c.get("/billing/manage", REMOTE_ADDR="198.51.100.2"), (302,)),)),
    "the /webhooks/ prefix per IP": Bucket(
        {"sensitive": 2}, 2, "sensitive-ip",
        # Other webhooks than Stripe's (exempt: signed, stored once) stay limited, even a 404.
        within=lambda c, k, n: c.get("/webhooks/other", REMOTE_ADDR="198.51.100.1"), passes=(404,),
        over=lambda c, k: c.get("/webhooks/other", REMOTE_ADDR="198.51.100.1"),
        apart=((lambda c, k: c.get("/webhooks/other", REMOTE_ADDR="198.51.100.2"), (404,)),
               (lambda c, k: c.get("/webhooks/stripe", REMOTE_ADDR="198.51.100.1"), (405,)))),
    # Each key gets the limit of its owner's tier; the key, not the address, is counted.
    "per key, sandbox tier": Bucket(
        {"sandbox": 2, "pro": 4}, 2, "api-key-sandbox",
        within=lambda c, k, n: c.get("/api/v1/workflows", HTTP_X_API_KEY=k, REMOTE_ADDR=f"198.51.100.{n}"),
        passes=(200,), over=lambda c, k: c.get("/api/v1/workflows", HTTP_X_API_KEY=k, REMOTE_ADDR="198.51.100.9")),
    "per key, pro tier": Bucket(
        {"sandbox": 2, "pro": 4}, 4, "api-key-pro", tier="pro",
        within=lambda c, k, n: c.get("/api/v1/workflows", HTTP_AUTHORIZATION=f"Bearer {k}"), passes=(200,),
        over=lambda c, k: c.get("/api/v1/workflows", HTTP_AUTHORIZATION=f"Bearer {k}")),
    "the intake fast path": Bucket(
        {"writes": 2}, 2, "api-writes-ip",
        within=lambda c, k, n: _post(c, "/api/v1/intake", HTTP_X_API_KEY=k),
        passes=(202, 400),  # answered by intake itself
        over=lambda c, k: _post(c, "/api/v1/intake", HTTP_X_API_KEY=k)),
    "a forged X-Forwarded-For from an untrusted peer": Bucket(
        {"writes": 2}, 2, "api-writes-ip", trusted_proxies=_PROXY,
        within=lambda c, k, n: _post(c, ip="203.0.113.5", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"), passes=(401,),
        over=lambda c, k: _post(c, ip="203.0.113.5", HTTP_X_FORWARDED_FOR="198.51.100.77")),
    "a trusted proxy's X-Forwarded-For": Bucket(
        {"writes": 2}, 2, "api-writes-ip", trusted_proxies=_PROXY,
        within=lambda c, k, n: _post(c, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1"), passes=(401,),
        # The same client through another of our proxies, whatever it wrote on the left: limited.
        over=lambda c, k: _post(c, ip="10.0.0.3", HTTP_X_FORWARDED_FOR="7.7.7.7, 198.51.100.1"),
        # Another client behind the same proxy has its own bucket.
        apart=((lambda c, k: _post(c, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.2"), (401,)),)),
}


@pytest.mark.django_db
@pytest.mark.parametrize("bucket", BUCKETS.values(), ids=BUCKETS.keys())
def test_a_limit_answers_its_requests_refuses_the_next_and_spares_other_buckets(limits, settings, frozen_clock,
                                                                                bucket):
    limits(**bucket.limits)
    settings.TRUSTED_PROXIES = list(bucket.trusted_proxies)
    _, key = api_key_for(UserFactory(tier=bucket.tier))
    client = Client()
    for n in range(bucket.limit):
        response = bucket.within(client, key, n)
        assert response.status_code in bucket.passes, (n, response.status_code)
        assert response["X-RateLimit-Limit"] == str(bucket.limit)
        assert response["X-RateLimit-Remaining"] == str(bucket.limit - 1 - n)
    body = _assert_limited(bucket.over(client, key), bucket.limit)
    assert body["details"]["scope"] == bucket.scope
    for ask, statuses in bucket.apart:
        assert ask(client, key).status_code in statuses


@pytest.mark.django_db
def test_a_successful_answer_carries_the_tightest_limit(limits, key_pair, frozen_clock):
    limits(writes=5, global_=100, sandbox=50)
    _, raw = key_pair
    response = Client().post("/api/v1/intake", data={"workflow": "demo.flow", "payload": {}},
                             content_type="application/json", HTTP_X_API_KEY=raw)
    assert response.status_code == 202
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("5", "4")
    response = Client().get("/api/v1/workflows", HTTP_X_API_KEY=raw)
    assert (response["X-RateLimit-Limit"], response["X-RateLimit-Remaining"]) == ("50", "48")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/health", "/status", "/ops/uptime", "/ops/queue_health"])
def test_health_endpoints_are_not_limited(limits, path):
    limits(writes=1, global_=1, sensitive=1)
    client = Client()
    for _ in range(3):
        response = client.get(path)
        assert response.status_code in (200, 503)
        assert "X-RateLimit-Limit" not in response


_SPEND = """
import sys
import django
django.setup()
from django.test import Client
client = Client()
answers = [client.post("/api/v1/jobs", data="{}", content_type="application/json", REMOTE_ADDR=sys.argv[1])
           for _ in range(3)]
print([a.status_code for a in answers], answers[-1]["X-RateLimit-Reset"])
"""


@pytest.mark.redis
@pytest.mark.django_db
def test_limits_are_shared_by_processes_through_redis(limits):
    limits(writes=5)
    env = {**worker_env(), "RATELIMIT_WRITES_PER_IP": "5", "RATELIMIT_GLOBAL": str(BIG),
           "RATELIMIT_SENSITIVE_PER_IP": str(BIG)}
    client = Client()
    # Windows are fixed minutes: if one ends between the other process's requests and ours, ours
    # start a new one. Seen by the reset times differing; then try again with a fresh address.
    for attempt in range(3):
        ip = f"198.51.100.{40 + attempt}"
        other = subprocess.run([sys.executable, "-c", _SPEND, ip], env=env, capture_output=True,  # noqa: S603
                               text=True, timeout=60)
        assert other.returncode == 0, other.stderr
        codes, other_reset = other.stdout.strip().splitlines()[-1].rsplit(" ", 1)
        assert codes == "[401, 401, 401]"
        first = _post(client, ip=ip)
        if first["X-RateLimit-Reset"] == other_reset:
            break
    # The other process spent 3 of the 5: this one has 2 left.
    assert first.status_code == 401 and first["X-RateLimit-Remaining"] == "1"
    assert _post(client, ip=ip).status_code == 401
    _assert_limited(_post(client, ip=ip), 5)


@pytest.mark.django_db
def test_counters_out_of_reach_refuse_as_unavailable_not_with_a_500(limits, settings):
    limits()
    # A Redis that does not answer (nothing listens on port 1), as the rate limiter's store.
    settings.CACHES = {**settings.CACHES, "unreachable": UNREACHABLE_REDIS_CACHE}
    settings.RATELIMIT_USE_CACHE = "unreachable"
    response = _post(Client())
    assert_api_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"
    assert Client().get("/health").status_code == 200, "what is not limited still answers"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/jobs", "/api/v1/jobs?format=json", "/api/v1/usage"])
def test_a_cache_out_of_reach_makes_api_answers_unavailable_not_500(limits, settings, key_pair, path):
    limits()
    _, raw = key_pair
    # Key lookups and quota counts live in the default cache: make it a Redis that does not answer.
    settings.CACHES = {**settings.CACHES, "default": UNREACHABLE_REDIS_CACHE}
    settings.RATELIMIT_ENABLE = False  # this test is about the key and quota lookups behind it
    client = Client()
    response = (client.get(path, HTTP_X_API_KEY=raw) if path.endswith("usage")
                else client.post(path, data='{"workflow": "demo.flow", "payload": {}}', content_type="application/json",
                                 HTTP_X_API_KEY=raw))
    assert_api_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


# --- the counters themselves (levqor.hit_counters.count_hits: our own scheme, also used by sign-in links)


@pytest.fixture(params=["default", "local"])
def counter_cache(request, settings):
    """The counters in the default cache (Redis when REDIS_URL is set) and in a local-memory one, so
    both ways of counting (one Redis pipeline; a cache add, then incr) are tried on a Redis run."""
    if request.param == "local":
        settings.CACHES = {**settings.CACHES, "local": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit-test"}}
        settings.RATELIMIT_USE_CACHE = "local"
    yield caches[settings.RATELIMIT_USE_CACHE]
    if request.param == "local":  # the default cache is emptied by conftest, this run's keys only (no FLUSHDB)
        caches["local"].clear()


def test_a_counter_counts_hits_in_its_fixed_window_and_starts_again_in_the_next(counter_cache, frozen_clock):
    first = hit_counters.count_hits([hit_counters.Counter("test-limit", "198.51.100.1", 2, 60)])[0]
    assert frozen_clock.epoch < first.reset_at <= frozen_clock.epoch + 60
    assert (first.count, first.remaining, first.exceeded) == (1, 1, False)
    assert first.retry_after == first.reset_at - frozen_clock.epoch
    frozen_clock.advance(first.reset_at - frozen_clock.epoch - 1)  # the window's last second
    second = hit_counters.count_hits([hit_counters.Counter("test-limit", "198.51.100.1", 2, 60)])[0]
    third = hit_counters.count_hits([hit_counters.Counter("test-limit", "198.51.100.1", 2, 60)])[0]
    assert [(u.count, u.remaining, u.exceeded, u.reset_at) for u in (second, third)] == [
        (2, 0, False, first.reset_at), (3, 0, True, first.reset_at)]
    assert third.retry_after == 1
    frozen_clock.advance(1)  # the window has ended: a fresh one, exactly one period later
    fresh = hit_counters.count_hits([hit_counters.Counter("test-limit", "198.51.100.1", 2, 60)])[0]
    assert (fresh.count, fresh.reset_at) == (1, first.reset_at + 60)


def test_each_group_value_and_period_is_a_bucket_of_its_own(counter_cache, frozen_clock):
    usages = hit_counters.count_hits([
        hit_counters.Counter("test-limit", "a", 5, 60),
        hit_counters.Counter("test-limit", "a", 5, 60),
        hit_counters.Counter("test-limit", "b", 5, 60),
        hit_counters.Counter("test-other", "a", 5, 60),
        hit_counters.Counter("test-limit", "a", 5, 900),
        hit_counters.Counter("test-limit", "a", 5, 60),
    ])
    assert [u.count for u in usages] == [1, 2, 1, 1, 1, 3]


def test_windows_of_different_buckets_do_not_all_end_in_the_same_second(counter_cache, frozen_clock):
    ends = {hit_counters.count_hits([hit_counters.Counter("test-limit", f"198.51.100.{n}", 5, 60)])[0].reset_at
            for n in range(20)}
    assert len(ends) > 5
    assert all(frozen_clock.epoch < end <= frozen_clock.epoch + 60 for end in ends)


def test_the_most_lasting_exceeded_limit_is_the_one_reported(counter_cache, frozen_clock):
    counters = [hit_counters.Counter("test-a", "x", 1, 60), hit_counters.Counter("test-b", "x", 1, 900),
                hit_counters.Counter("test-c", "x", 5, 900)]
    # Windows are shifted per bucket: start at a moment when b's window ends after a's (so "b
    # resets last" holds whatever second the test runs in).
    while hit_counters._window_end(counters[1], frozen_clock.epoch) <= hit_counters._window_end(counters[0],
                                                                                                frozen_clock.epoch):
        frozen_clock.advance(60)
    assert hit_counters.last_to_reset(hit_counters.count_hits(counters)) is None
    usages = hit_counters.count_hits(counters)
    assert hit_counters.last_to_reset(usages) == usages[1]  # c is not exceeded; b resets after a


@pytest.mark.redis
def test_on_redis_the_pipeline_counts_into_the_cache_apis_own_entries(frozen_clock):
    """The one-round-trip path and the plain cache path (cache.add, cache.incr: what other caches
    get) count into the same entries: the pipeline's keys carry the cache's prefix and version, so
    the cache API reads, expires and clears them like any other."""
    cache = caches["default"]
    counter = hit_counters.Counter("test-limit", "198.51.100.1", 10, 60)
    end = hit_counters._window_end(counter, frozen_clock.epoch)
    assert hit_counters._count_on_redis(cache, [counter], [end]) == [1]
    assert hit_counters._count_in_cache(cache, [counter], [end]) == [2]
    assert hit_counters._count_on_redis(cache, [counter], [end]) == [3]
    key = hit_counters._cache_key(counter, end)
    assert cache.get(key) == 3
    assert 0 < cache.ttl(key) <= 60 + hit_counters.EXPIRY_MARGIN_SECONDS
    assert [u.count for u in hit_counters.count_hits([counter])] == [4]
