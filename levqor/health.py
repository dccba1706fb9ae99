"""Liveness, readiness and uptime. Apps register their own readiness checks (the worker
heartbeat is the jobs app's), so this package knows no app."""

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response
from levqor.readiness import readiness_checks, register_readiness_check  # noqa: F401  (apps register here)
from levqor.sentry import sentry_status

PROCESS_STARTED_AT = time.time()
_STATUS_INFO: dict[str, Callable[[], dict]] = {}


def register_status_info(name: str, info: Callable[[], dict]) -> None:
    """An optional service's line in /status "info" (never fails readiness). info() answers from
    memory (no query, no secret): /status is polled."""
    _STATUS_INFO[name] = info




READ_ONLY_METHODS = ("GET", "HEAD", "OPTIONS")


def read_only_json(view):
    """For the JSON views that only report (health, status, ops): another method is 405
    method_not_allowed in the error shape, with an Allow header, as on the API.

    Exempt from CSRF, whose check runs before the view and answered an unsafe method 403
    csrf_failed: with every unsafe method refused here, the view changes nothing for CSRF to guard."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method not in READ_ONLY_METHODS:
            response = error_response(AppError(ErrorCode.METHOD_NOT_ALLOWED, f'Method "{request.method}" not allowed.'))
            response["Allow"] = ", ".join(READ_ONLY_METHODS)
            return response
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapped)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def root(request):
    return JsonResponse({"ok": True, "service": "levqor-backend", "version": settings.LEVQOR_VERSION,
                         "build": settings.LEVQOR_BUILD})


@read_only_json
def health(request):
    """Liveness: the process answers. No database, no cache."""
    return JsonResponse({"ok": True, "ts": int(time.time())})


@read_only_json
def status(request):
    """Readiness: every registered check must pass, else "fail" and 503."""
    checks = readiness_checks()
    passing = all(c["ok"] for c in checks.values())
    # Optional services that never fail readiness: reported, so "not configured" is visible.
    info = {"sentry": sentry_status()}
    for name, provider in _STATUS_INFO.items():
        try:
            info[name] = provider()
        except Exception as exc:  # an info line never breaks readiness
            info[name] = {"error": type(exc).__name__}
    return JsonResponse({"status": "pass" if passing else "fail", "timestamp": _now_iso(), "checks": checks,
                         "info": info}, status=200 if passing else 503)


@read_only_json
def uptime(request):
    now = time.time()
    return JsonResponse({
        "uptime_seconds": int(now - PROCESS_STARTED_AT),
        "start_time": datetime.fromtimestamp(PROCESS_STARTED_AT, UTC).isoformat(),
        "current_time": datetime.fromtimestamp(now, UTC).isoformat(),
        "version": settings.LEVQOR_VERSION,
        "build": settings.LEVQOR_BUILD,
    })
