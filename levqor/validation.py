"""Request bodies checked against a DRF serializer, with refusals in the project's error shape."""

import json

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


def field_error(field: str, message: str) -> dict:
    """One entry of details.errors: {"field", "message"}."""
    return {"field": field, "message": message}


def text_field_clean(value, errors: list, *, field: str, max_length: int, required: bool = True,
                     required_message: str = "") -> str | None:
    """A text field of a service's input, stripped: the text, "" for an absent optional one, or None
    with the reason appended to `errors` (required and empty, not text, or longer than max_length)."""
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        errors.append(field_error(field, (required_message or f"{field} is required.") if required or value is None
                                  else "Text."))
        return None
    value = value.strip()
    if len(value) > max_length:
        errors.append(field_error(field, f"At most {max_length} characters."))
        return None
    return value


def json_size(value) -> int | None:
    """The bytes of `value` as compact-enough UTF-8 JSON, or None when it is not JSON (NaN, infinities,
    objects JSON has no form for)."""
    try:
        return len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        return None


def json_object_field_clean(value, errors: list, *, field: str, max_bytes: int) -> dict | None:
    """A free-form JSON object field (metadata): {} when absent, the object, or None with the reason
    appended to `errors` (not an object, not JSON, or more than max_bytes as JSON)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(field_error(field, "A JSON object."))
        return None
    size = json_size(value)
    if size is None:
        errors.append(field_error(field, "A JSON object (no NaN or infinite numbers)."))
        return None
    if size > max_bytes:
        errors.append(field_error(field, f"At most {max_bytes // 1024} KiB as JSON."))
        return None
    return value
