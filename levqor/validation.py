"""Request bodies checked against a DRF serializer, with refusals in the project's error shape."""

from levqor.errors import AppError, ErrorCode


def request_validated(serializer_class, request, *, partial: bool = False) -> dict:
    """The request's JSON object validated, or 400 validation_failed naming each offending field
    in details.errors[].field (nested ones as scopes[0] or meta.plan). Fields the serializer does
    not know are refused, not silently ignored."""
    data = request.data
    if not isinstance(data, dict):
        raise AppError(ErrorCode.VALIDATION_FAILED, "The body must be a JSON object.",
                       details={"errors": [{"field": "body", "message": "Expected a JSON object."}]})
    serializer = serializer_class(data=data, partial=partial)
    errors = [{"field": name, "message": f"{name!r} is not an accepted field."}
              for name in sorted(set(data) - set(serializer.fields))]
    if not serializer.is_valid():
        errors += field_errors(serializer.errors)
    if errors:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The request did not pass validation.",
                       details={"errors": sorted(errors, key=lambda e: e["field"])})
    return serializer.validated_data


def field_errors(found, field: str = "") -> list[dict]:
    """DRF's nested errors ({"scopes": {0: ["..."]}}) as [{"field": "scopes[0]", "message"}]."""
    if isinstance(found, dict):
        return [item for key, value in found.items() for item in field_errors(
            value, f"{field}[{key}]" if isinstance(key, int) else
            ("body" if key == "non_field_errors" and not field else (f"{field}.{key}" if field else key)))]
    if isinstance(found, list):
        return [item for value in found for item in field_errors(value, field)]
    return [{"field": field or "body", "message": str(found)}]
