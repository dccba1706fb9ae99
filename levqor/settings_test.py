"""Test settings: the real settings, isolated so a test run never touches a running service."""

import os

from levqor.settings import *  # noqa: F403
from levqor.settings import CACHES, DATABASES, Q_CLUSTER, REDIS_URL, VAR_DIR

_RUN = os.environ.get("LEVQOR_TEST_RUN") or str(os.getpid())
# A test database per test run, so two runs on one machine (developers in parallel) never
# share one. Worker processes that a test starts get the test database's real NAME.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-levqor-{_RUN}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_levqor_{_RUN}"}
# Our own queue and cache namespace, so tasks and keys of a test run never mix with a live cluster's.
Q_CLUSTER = {**Q_CLUSTER, "name": f"levqor-test-{_RUN}"}
if REDIS_URL:
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"levqor-test-{_RUN}"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WEBHOOK_HTTPS_ONLY = False  # the fake receivers are http://127.0.0.1; tests of the rule switch it on
OUTBOUND_ALLOW_PRIVATE = True  # the fake servers the tests start listen on 127.0.0.1
LLM_BASE_URL = ""
SENTRY_DSN = ""  # tests that report to Sentry point it at their own fake server
LLM_API_KEY = ""
# Alert channels off unless a test points one at its own fake server: a run never alerts real people.
OPS_EMAILS = []
ALERT_SLACK_WEBHOOK_URL = ALERT_TELEGRAM_BOT_TOKEN = ALERT_TELEGRAM_CHAT_ID = ALERT_WEBHOOK_URL = ALERT_WEBHOOK_SECRET = ""
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
# Rate limits far above what any test sends from its one address, unless the environment sets
# them (a process a test starts) or a test sets its own (tests/levqor/test_ratelimit.py).
for _name in ("RATELIMIT_WRITES_PER_IP", "RATELIMIT_GLOBAL", "RATELIMIT_SENSITIVE_PER_IP"):
    if not os.environ.get(_name):
        globals()[_name] = 1_000_000
RATELIMIT_PER_KEY_BY_TIER = {tier: 1_000_000 for tier in RATELIMIT_PER_KEY_BY_TIER}  # noqa: F405
# Live metrics: no flusher thread (it would write beside the test's transaction); tests flush by hand.
METRICS_BACKGROUND_FLUSH = False
