"""One JSON log line per request on the "levqor.request" logger, with the final status.

The line is written off the request path: the request appends its fields (plain values, taken at
once) to a list, and a thread per process writes what is there every WRITE_INTERVAL_SECONDS,
building each record (with the request's own time) and handing it to the logger's handlers
(redaction, JSON, the write). The thread is not woken per line: waking it for every request
costs more than the line itself (the GIL changes hands twice). Past PENDING_MAX waiting lines
the request writes them itself (never dropped); whatever waits is written at exit, and a forked
child starts its own thread. request_log_flush() writes every line handed over so far, now (tests)."""

import atexit
import collections
import logging
import os
import threading
import time

from django.utils.functional import SimpleLazyObject, empty

from levqor.client_ip import client_ip
from levqor.redaction import redact_text
from levqor.request_context import current_correlation_id

logger = logging.getLogger("levqor.request")

WRITE_INTERVAL_SECONDS = 0.2
PENDING_MAX = 5_000

_pending: collections.deque = collections.deque()
_drain_lock = threading.Lock()
_writer: threading.Thread | None = None
_writer_lock = threading.Lock()


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


def _write(created: float, fields: dict) -> None:
    """Build the line's record, stamped with the request's time, and hand it to the handlers."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "request", (), None, extra=fields)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    logger.handle(record)


def request_log_flush() -> None:
    """Write every line handed over so far (in order), in the calling thread."""
    with _drain_lock:
        while _pending:
            created, fields = _pending.popleft()
            try:
                _write(created, fields)
            except Exception:  # a line that cannot be written must not stop the next ones
                logging.getLogger("levqor.request_log").warning("a request log line could not be written",
                                                                exc_info=True)


def _writer_loop() -> None:
    while True:
        time.sleep(WRITE_INTERVAL_SECONDS)
        if _pending:
            request_log_flush()


def _writer_ensure() -> None:
    global _writer
    with _writer_lock:
        if _writer is None:
            _writer = threading.Thread(target=_writer_loop, name="levqor-request-log", daemon=True)
            _writer.start()


def request_log_line(fields: dict) -> None:
    """Hand one request's line to the writer thread (or, with too many waiting, write them here)."""
    _pending.append((time.time(), fields))
    if _writer is None:
        _writer_ensure()
    if len(_pending) > PENDING_MAX:
        request_log_flush()


def _after_fork_in_child() -> None:
    """A forked child (a gunicorn worker) has no writer thread: it starts its own, with nothing
    pending (what the parent had not written yet is the parent's to write)."""
    global _pending, _writer, _writer_lock, _drain_lock
    _pending = collections.deque()
    _writer = None
    _writer_lock = threading.Lock()
    _drain_lock = threading.Lock()


atexit.register(request_log_flush)
os.register_at_fork(after_in_child=_after_fork_in_child)


class RequestLogMiddleware:
    """Placed just inside RequestIdMiddleware, so it has the correlation id and sees the final
    status of everything below it: 404s, 413s of the body limit, 500s of crashed views."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        if not logger.isEnabledFor(logging.INFO):  # LOG_REQUESTS=false: nothing to build
            return response
        request_log_line({
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
