"""Errors as HTTP answers: the one place an AppError (or DRF's or Django's own refusal) becomes
the project's error shape {"error", "message", "details", "correlation_id"}.

- `error_response(exc)`: a JsonResponse, for middleware and plain Django views;
- `api_exception_handler`: DRF's EXCEPTION_HANDLER, for every DRF view;
- `handler400/403/404/500`, `csrf_failure`: Django's own error views;
- `store_down_error()`: a shared store (Redis: cache, counters, broker) or the database out of
  reach is a 503 with Retry-After, never a 500 (in a DRF view, a plain view or a middleware).
"""

import logging
import sys

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from levqor.errors import API_KEY_CHALLENGE, AppError, ErrorCode
from levqor.request_context import current_correlation_id
from levqor.store import STORE_DOWN, database_down

logger = logging.getLogger("levqor.errors")

STORE_RETRY_AFTER_SECONDS = 5


def error_body(exc: AppError) -> dict:
    return {"error": exc.code.value, "message": exc.message, "details": exc.details,
            "correlation_id": current_correlation_id(), **exc.legacy_fields}


def error_headers(exc: AppError) -> dict[str, str]:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = API_KEY_CHALLENGE
    return headers


def _with_headers(response, exc: AppError):
    for name, value in error_headers(exc).items():
        response[name] = value
    return response


def error_response(exc: AppError) -> JsonResponse:
    """An AppError as a plain Django response (middleware, page endpoints that answer JSON)."""
    return _with_headers(JsonResponse(error_body(exc), status=exc.status), exc)


def store_down_error() -> AppError:
    """503 with Retry-After: the request may well work in a moment; nothing about it was wrong.
    Call it while handling the store's exception: the warning logged carries it."""
    logger.warning("a shared store is out of reach", exc_info=True)
    return AppError(ErrorCode.SERVICE_UNAVAILABLE,
                    "A service we depend on is unavailable right now; retry in a few seconds.",
                    retry_after=STORE_RETRY_AFTER_SECONDS)


# DRF's own exceptions, mapped to our codes (their statuses stay DRF's, which are the codes' own).
_DRF_CODES = {
    exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    exceptions.AuthenticationFailed: ErrorCode.INVALID_API_KEY,
    exceptions.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    exceptions.NotFound: ErrorCode.NOT_FOUND,
    exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    exceptions.NotAcceptable: ErrorCode.NOT_ACCEPTABLE,
    exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    exceptions.ParseError: ErrorCode.INVALID_JSON,
    exceptions.Throttled: ErrorCode.RATE_LIMITED,
    exceptions.ValidationError: ErrorCode.VALIDATION_FAILED,
}


def _from_drf(exc: exceptions.APIException, status: int) -> AppError:
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
    if code is None:
        code = ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL_ERROR
    if isinstance(exc, exceptions.ValidationError):
        details = {"non_field_errors": exc.detail} if isinstance(exc.detail, list) else exc.detail
        message = exc.detail if isinstance(exc.detail, str) else "The request did not pass validation."
        return AppError(code, str(message), details=details, status=status)
    message = exc.detail if isinstance(exc.detail, str) else exc.default_detail
    return AppError(code, str(message), status=status)


def api_exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every error of a DRF view in the project's shape."""
    if isinstance(exc, STORE_DOWN) or database_down(exc):
        exc = store_down_error()
    if not isinstance(exc, AppError):
        # DRF maps Django's own Http404/PermissionDenied only inside its handler; map them first, so
        # their messages (which may name models) are not shown to clients.
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        elif isinstance(exc, DjangoPermissionDenied):
            exc = exceptions.PermissionDenied()
        response = exception_handler(exc, context)  # DRF's headers: WWW-Authenticate, Allow, Retry-After
        if response is None:
            logger.exception("unhandled API error", exc_info=exc)
            return Response(error_body(AppError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side.")),
                            status=500)
        response.data = error_body(_from_drf(exc, response.status_code))
        return response
    return _with_headers(Response(error_body(exc), status=exc.status), exc)


def handler400(request, exception=None):
    return error_response(AppError(ErrorCode.BAD_REQUEST, "The request could not be understood."))


def handler403(request, exception=None):
    return error_response(AppError(ErrorCode.PERMISSION_DENIED, "You may not do that."))


def handler404(request, exception=None):
    return error_response(AppError(ErrorCode.NOT_FOUND, "Nothing lives at this address."))


def handler500(request):
    # Django calls this while handling the exception (a plain view's, such as the intake fast
    # path's, or a middleware's): a store or the database out of reach is a 503, not our fault.
    exc = sys.exc_info()[1]
    if isinstance(exc, STORE_DOWN) or database_down(exc):
        return error_response(store_down_error())
    return error_response(AppError(ErrorCode.INTERNAL_ERROR, "Something went wrong on our side."))


def csrf_failure(request, reason=""):
    """CSRF_FAILURE_VIEW: Django's own CSRF refusal, in our shape (its reason is for developers)."""
    return error_response(AppError(ErrorCode.CSRF_FAILED,
                                   "The request's CSRF check failed; reload the page and try again."))


def store_down_response() -> JsonResponse:
    """store_down_error() as a plain response, for code outside DRF (middleware, the intake fast path)."""
    return error_response(store_down_error())
