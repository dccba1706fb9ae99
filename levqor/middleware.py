"""Cross-cutting request middleware: correlation ids and the body-size limit."""

import io

from django.conf import settings

from levqor.errors import AppError, ErrorCode
from levqor.http_errors import error_response
from levqor.request_context import current_correlation_id, reset_correlation_id, set_correlation_id


class RequestIdMiddleware:
    """Take the correlation id from X-Request-ID (or X-Correlation-ID), or make one; echo it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID") or request.headers.get("X-Correlation-ID")
        token = set_correlation_id(incoming)
        request.correlation_id = current_correlation_id()
        try:
            response = self.get_response(request)
        finally:
            reset_correlation_id(token)
        response["X-Request-ID"] = request.correlation_id
        return response


# WSGI environ key (PEP 3333 extension) by which ChunkedBodyReader tells BodySizeLimitMiddleware
# that a chunked body went past the limit.
CHUNKED_BODY_TOO_LARGE = "levqor.chunked_body_too_large"
_READ_SIZE = 64 * 1024


def _is_chunked(environ) -> bool:
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get("CONTENT_LENGTH")


class ChunkedBodyReader:
    """WSGI middleware around Django's handler (levqor.wsgi): lets a chunked request body be read.

    Django reads a body only as far as CONTENT_LENGTH, and treats a missing one as 0, because
    WSGI does not promise that wsgi.input ends where the body does. A chunked request has no
    Content-Length, so its body looked empty. A server that decodes the chunking and ends
    wsgi.input at the body's end says so with wsgi.input_terminated (gunicorn, mod_wsgi); then
    the body is read here, at most one byte past MAX_REQUEST_BODY_BYTES, and handed on with its
    length, so Django, DRF and the intake fast path see an ordinary request. Past the limit,
    reading stops and BodySizeLimitMiddleware answers 413. Other servers' chunked requests are
    left alone (BodySizeLimitMiddleware answers them 411)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if _is_chunked(environ) and environ.get("wsgi.input_terminated"):
            limit = settings.MAX_REQUEST_BODY_BYTES
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                environ[CHUNKED_BODY_TOO_LARGE] = True
                body = b""
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _read_at_most(stream, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining > 0:
        chunk = stream.read(min(remaining, _READ_SIZE))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _too_large(message: str, details: dict):
    response = error_response(AppError(ErrorCode.REQUEST_TOO_LARGE, message, details=details))
    # The body stays unread, so the connection must not be reused for another request.
    response["Connection"] = "close"
    return response


class BodySizeLimitMiddleware:
    """Refuse bodies over MAX_REQUEST_BODY_BYTES before reading them: from Content-Length, or, for
    a chunked body, from what ChunkedBodyReader found while reading it. A chunked body that no
    one could read (a server that does not end wsgi.input at the body's end, such as Django's
    runserver) is answered 411 rather than taken as empty."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.MAX_REQUEST_BODY_BYTES
        if request.META.get(CHUNKED_BODY_TOO_LARGE):
            return _too_large(f"The request body is over the limit of {limit} bytes.", {"limit_bytes": limit})
        if _is_chunked(request.META):
            # No Connection: close here: these servers refuse hop-by-hop headers from the application
            # (PEP 3333) and frame the connection themselves.
            return error_response(AppError(ErrorCode.LENGTH_REQUIRED, "Send the request body with a Content-Length; "
                                           "this server cannot read a chunked one."))
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(AppError(ErrorCode.BAD_REQUEST, "Content-Length is not a number."))
        if length > limit:
            return _too_large(f"The request body is {length} bytes; the limit is {limit} bytes.",
                              {"limit_bytes": limit, "content_length": length})
        return self.get_response(request)
