"""One JSON log line per request on the "levqor.request" logger, with the final status."""

import logging
import time

from django.utils.functional import SimpleLazyObject, empty

from levqor.client_ip import client_ip
from levqor.redaction import redact_text
from levqor.request_context import current_correlation_id

logger = logging.getLogger("levqor.request")


def _request_user_id(request) -> str | None:
    """The authenticated user's id, without loading a session just to log it: a user that DRF
    or the view already resolved is used, a lazy one nobody looked at is left alone."""
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = None if user._wrapped is empty else user._wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


def _request_key_prefix(request) -> str | None:
    prefix = getattr(getattr(request, "auth", None), "prefix", None)  # ApiKey.prefix; never the key
    return prefix if isinstance(prefix, str) else None


class RequestLogMiddleware:
    """Placed just inside RequestIdMiddleware, so it has the correlation id and sees the final
    status of everything below it: 404s, 413s of the body limit, 500s of crashed views."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        logger.info("request", extra={
            "method": request.method,
            "path": redact_text(request.path),  # the path only: a query string may carry secrets
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            # A REMOTE_ADDR that is no address is still worth seeing in the log, as it came.
            "client_ip": client_ip(request) or request.META.get("REMOTE_ADDR") or None,
            "user_agent": request.headers.get("User-Agent", "")[:300],
            "key_prefix": _request_key_prefix(request),
            "user_id": _request_user_id(request),
            "correlation_id": current_correlation_id(),
        })
        return response
