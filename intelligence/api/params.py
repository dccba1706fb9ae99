"""Query parameters the operators' money APIs share."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from levqor.errors import AppError, ErrorCode
from levqor.validation import field_errors

MAX_DAYS = 365


class DaysQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, default=30)


def days_param(description: str) -> OpenApiParameter:
    return OpenApiParameter("days", int, description=f"{description} 1..{MAX_DAYS}, default 30.")


def days_from(request) -> int:
    """The `days` query parameter (1..365, default 30); anything else is 400 validation_failed naming it."""
    query = DaysQuerySerializer(data=request.query_params)
    if not query.is_valid():
        raise AppError(ErrorCode.VALIDATION_FAILED, "The request did not pass validation.",
                       details={"errors": field_errors(query.errors)})
    return query.validated_data["days"]
