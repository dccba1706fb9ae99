"""Test settings: the real settings, isolated so a test run never touches a running service."""

import os

from levqor.settings import *  # noqa: F403
from levqor.settings import CACHES, Q_CLUSTER, REDIS_URL

_RUN = os.environ.get("PYTEST_XDIST_WORKER", "") or str(os.getpid())
# Our own queue and cache namespace, so tasks and keys of a test run never mix with a live cluster's.
Q_CLUSTER = {**Q_CLUSTER, "name": f"levqor-test-{_RUN}"}
if REDIS_URL:
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": f"levqor-test-{_RUN}"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
OUTBOUND_ALLOW_PRIVATE = True  # the fake servers the tests start listen on 127.0.0.1
LLM_BASE_URL = ""
LLM_API_KEY = ""
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
