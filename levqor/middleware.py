"""Cross-cutting request middleware: correlation ids and the body-size limit."""

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


class BodySizeLimitMiddleware:
    """Refuse bodies over MAX_REQUEST_BODY_BYTES from Content-Length alone, before reading them.

    A body sent without a length (chunked) is still capped: Django raises RequestDataTooBig
    past DATA_UPLOAD_MAX_MEMORY_SIZE, which the API maps to the same 413.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.MAX_REQUEST_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(AppError(ErrorCode.BAD_REQUEST, "Content-Length is not a number."))
        if length > limit:
            response = error_response(AppError(
                ErrorCode.REQUEST_TOO_LARGE,
                f"The request body is {length} bytes; the limit is {limit} bytes.",
                details={"limit_bytes": limit, "content_length": length},
            ))
            # The body stays unread, so the connection must not be reused for another request.
            response["Connection"] = "close"
            return response
        return self.get_response(request)
