"""Readiness checks: what /status asks before it says the service is ready (the database, the cache,
and what apps register: the jobs app's worker heartbeat). Kept apart from the health views so a
service (the Notion health row) can run them without importing the HTTP layer."""

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection

_READINESS_CHECKS: dict[str, Callable[[], tuple[bool, str]]] = {}


def register_readiness_check(name: str, check: Callable[[], tuple[bool, str]]) -> None:
    _READINESS_CHECKS[name] = check


def _check_database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, connection.vendor


def _check_cache() -> tuple[bool, str]:
    key = "levqor:readiness-probe"
    token = str(time.monotonic_ns())
    cache.set(key, token, 30)
    if cache.get(key) != token:
        return False, "cache did not return what was written"
    return True, settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


def readiness_checks() -> dict[str, dict]:
    """Every registered readiness check, run now: {name: {"ok", "detail"}} (what /status shows)."""
    checks = {}
    for name, check in _READINESS_CHECKS.items():
        try:
            ok, detail = check()
        except Exception as exc:  # a check that raises is a failed check, never a 500
            ok, detail = False, f"{type(exc).__name__}: {exc}"[:200]
        checks[name] = {"ok": ok, "detail": detail}
    return checks


register_readiness_check("database", _check_database)
register_readiness_check("cache", _check_cache)
