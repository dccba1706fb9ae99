"""The one error shape of the API: {"error", "message", "details", "correlation_id"}."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from levqor.request_context import current_correlation_id

logger = logging.getLogger("levqor.errors")


class ApiError(exceptions.APIException):
    """An API error with a stable snake_case code and optional details."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code: str, message: str, *, status_code: int | None = None, details: dict | None = None,
                 headers: dict | None = None, legacy_fields: dict | None = None):
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        # Top-level fields an old Levqor contract had beside "error" (kept so old clients work).
        self.legacy_fields = legacy_fields or {}
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict:
        return {**error_body(self.code, self.message, self.details), **self.legacy_fields}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": code, "message": message, "details": details or {}, "correlation_id": current_correlation_id()}


def error_response(code: str, message: str, status_code: int, details: dict | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status_code)


# A shared store (Redis: cache, counters, broker) that cannot be reached right now.
STORE_DOWN = (RedisError, ConnectionInterrupted)


def store_down_error() -> ApiError:
    """503 with Retry-After: the request may well work in a moment; nothing about it was wrong.
    Call it while handling the store's exception: the warning logged carries it."""
    logger.warning("a shared store is out of reach", exc_info=True)
    return ApiError("service_unavailable", "A service we depend on is unavailable right now; retry in a few seconds.",
                    status_code=503, headers={"Retry-After": "5"})


def store_down_response() -> JsonResponse:
    """store_down_error() as a response, for code outside DRF (middleware, the intake fast path)."""
    exc = store_down_error()
    response = JsonResponse(exc.body(), status=exc.status_code)
    for name, value in exc.headers.items():
        response[name] = value
    return response


# DRF's own exceptions, mapped to our stable codes.
_DRF_CODES = {
    exceptions.NotAuthenticated: ("not_authenticated", status.HTTP_401_UNAUTHORIZED),
    exceptions.AuthenticationFailed: ("invalid_api_key", status.HTTP_401_UNAUTHORIZED),
    exceptions.PermissionDenied: ("permission_denied", status.HTTP_403_FORBIDDEN),
    exceptions.NotFound: ("not_found", status.HTTP_404_NOT_FOUND),
    exceptions.MethodNotAllowed: ("method_not_allowed", status.HTTP_405_METHOD_NOT_ALLOWED),
    exceptions.NotAcceptable: ("not_acceptable", status.HTTP_406_NOT_ACCEPTABLE),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    exceptions.ParseError: ("invalid_json", status.HTTP_400_BAD_REQUEST),
    exceptions.Throttled: ("rate_limited", status.HTTP_429_TOO_MANY_REQUESTS),
    exceptions.ValidationError: ("validation_failed", status.HTTP_400_BAD_REQUEST),
}


def _drf_message(exc: exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, str):
        return str(detail)
    if isinstance(exc, exceptions.ValidationError):
        return "The request did not pass validation."
    return str(exc.default_detail)


def api_exception_handler(exc, context):
    """DRF exception handler that answers every error in the project's shape."""
    if isinstance(exc, STORE_DOWN):
        exc = store_down_error()
    if isinstance(exc, ApiError):
        response = Response(exc.body(), status=exc.status_code)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    # DRF maps Django's own Http404/PermissionDenied only inside its handler; map them here too, so
    # the code below sees a DRF exception (with .detail) and their messages (which may name models)
    # are not shown to clients.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(error_body("internal_error", "Something went wrong on our side."), status=500)
    code, _ = next(((c, s) for cls, (c, s) in _DRF_CODES.items() if isinstance(exc, cls)), ("error", response.status_code))
    details = exc.detail if isinstance(exc, exceptions.ValidationError) else {}
    if isinstance(details, list):
        details = {"non_field_errors": details}
    response.data = error_body(code, _drf_message(exc), details)
    return response


def handler400(request, exception=None):
    return error_response("bad_request", "The request could not be understood.", 400)


def handler403(request, exception=None):
    return error_response("permission_denied", "You may not do that.", 403)


def handler404(request, exception=None):
    return error_response("not_found", "Nothing lives at this address.", 404)


def handler500(request):
    return error_response("internal_error", "Something went wrong on our side.", 500)


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: Django's own CSRF refusal, in our shape (its reason is for developers)."""
    return error_response("csrf_failed", "The request's CSRF check failed; reload the page and try again.", 403)
