import json
import os
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import UserFactory, api_key_for


def pytest_report_header(config):
    db = os.environ.get("DATABASE_URL") and "PostgreSQL (DATABASE_URL)" or "SQLite"
    redis = "Redis (REDIS_URL)" if os.environ.get("REDIS_URL") else "no Redis: local-memory cache, ORM broker"
    return f"levqor: database {db}; {redis}"


def pytest_collection_modifyitems(config, items):
    on_pg = bool(os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql")))
    on_redis = bool(os.environ.get("REDIS_URL"))
    for item in items:
        if "postgres" in item.keywords and not on_pg:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI does)"))
        if "redis" in item.keywords and not on_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL (CI does)"))


@pytest.fixture(autouse=True)
def _clean_cache():
    _cache_clear()
    yield
    _cache_clear()
    from levqor.request_log import request_log_flush

    request_log_flush()  # the test's request lines, written off the request path, within its own output


def _cache_clear():
    """Empty this run's cache and django-q2 queue. On Redis, cache.clear() is FLUSHDB, which
    would also wipe the keys and queues of other test runs sharing the database. The per-process
    memos (the key service's, the runtime settings', the stabilize state's, intake's queue count,
    unsent metrics) go too, as in a fresh process."""
    from accounts.services import key_auth
    from intelligence.services import growth, runtime, stabilize
    from jobs import backpressure
    from levqor import metrics
    from partners.services import policy

    key_auth.reset()
    policy.reset()
    runtime.reset()
    stabilize.reset()
    growth.reset()
    backpressure.reset()
    metrics.metrics_discard()  # this process's unsent live metrics
    cache_clear_own(queue=True)


def cache_clear_own(*, queue: bool = False) -> None:
    """Empty this test process's cache (and with queue=True its django-q2 queue), as a restarted
    cache would be. Tests call this, never cache.clear(): on Redis that is FLUSHDB, which wipes the
    keys of every other test process sharing the database (the other xdist worker's, the other
    run's), and their pinned query counts then see a cold cache."""
    if not settings.REDIS_URL:
        for alias in settings.CACHES:  # the default cache and the flags' own (levqor/settings.py)
            caches[alias].clear()
        return
    from django_redis import get_redis_connection

    client = get_redis_connection("default")
    patterns = [f"{settings.CACHES['default']['KEY_PREFIX']}:*"]
    if queue:
        patterns.append(f"django_q:{settings.Q_CLUSTER['name']}:*")
    for pattern in patterns:
        keys = list(client.scan_iter(pattern, count=1000))
        if keys:
            client.delete(*keys)


@pytest.fixture
def user(db):
    return UserFactory()


# A Redis that does not answer (nothing listens on port 1), failing fast: a cache out of reach.
UNREACHABLE_REDIS_CACHE = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                           "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}}


@pytest.fixture
def operator(db, django_user_model):
    """A signed-in staff superuser's browser (the admin back-office); the user is client.user."""
    client = Client()
    client.user = django_user_model.objects.create_superuser("ops@levqor.test", "a-long-operator-password")
    client.force_login(client.user)
    return client


@pytest.fixture
def key_pair(db):
    """(user, raw live key)."""
    return api_key_for()


@pytest.fixture
def client_for():
    """An API client authenticated with a raw key."""
    def make(raw_key, header="X-Api-Key"):
        client = APIClient()
        if header == "X-Api-Key":
            client.credentials(HTTP_X_API_KEY=raw_key)
        else:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client
    return make


@pytest.fixture
def api(key_pair, client_for):
    user, raw = key_pair
    client = client_for(raw)
    client.user = user
    return client


def post_json(client, path, body, **extra):
    return client.post(path, data=json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


class Recorder:
    """What a fake HTTP server received, and what it should answer next."""

    def __init__(self):
        self.requests = []
        self.responses = []  # (status, dict body) popped in order; default 200 {}
        self.lock = threading.Lock()

    def next_response(self):
        with self.lock:
            return self.responses.pop(0) if self.responses else (200, {})


@pytest.fixture
def fake_server():
    """A real HTTP server on 127.0.0.1 that records every request and answers from a script."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with recorder.lock:
                recorder.requests.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers.items()), "body": body})
            status, payload = recorder.next_response()
            if callable(payload):
                payload = payload(recorder.requests[-1])
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll interval: shutdown() waits up to one interval, and the default 0.5 s adds up.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    """A port on 127.0.0.1 where a connection is refused: bound for the whole test but never
    listening, so no other process (a parallel test run, an xdist worker) can be handed it and
    start answering there, as it could after a probe socket's bind(0) is closed again."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def dns_rebinding(monkeypatch):
    """DNS that changes its answer: the host "rebind.example.test" resolves to a public address the
    first time (the check) and to 127.0.0.1 after (the connect). Returns the host name."""
    real, answers = socket.getaddrinfo, iter(["93.184.215.14"])

    def getaddrinfo(host, *args, **kwargs):
        if host == "rebind.example.test":
            host = next(answers, "127.0.0.1")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return "rebind.example.test"


@pytest.fixture
def settings_outbound_strict(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    return settings


__all__ = ["post_json", "settings"]


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    """pytest-django's on-commit capture under a short name: `with capture(execute=True): ...` runs
    what the block's transactions hand over after commit (a webhook's processing task, deliveries)."""
    return django_capture_on_commit_callbacks


@pytest.fixture
def clock(monkeypatch):
    """Django's clock (timezone.now), moved forward by the test: clock.advance(seconds)."""
    real_now = timezone.now
    offset = [timedelta(0)]

    class Clock:
        def advance(self, seconds):
            offset[0] += timedelta(seconds=seconds)

    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset[0])
    return Clock()


STRIPE_TEST_WEBHOOK_SECRET = "whsec_test_levqor_fake"


@pytest.fixture
def fake_stripe(settings):
    """A local fake Stripe API (tests/fake_stripe.py) with billing configured against it: live and
    test secret keys, the webhook secret STRIPE_TEST_WEBHOOK_SECRET."""
    from tests.fake_stripe import FakeStripe, fake_stripe_serve

    fake = FakeStripe()
    server = fake_stripe_serve(fake)
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_SECRET_KEY = "sk_live_fake_levqor"
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_fake_levqor"
    settings.STRIPE_WEBHOOK_SECRETS = [STRIPE_TEST_WEBHOOK_SECRET]
    yield fake
    server.shutdown()
    server.server_close()
