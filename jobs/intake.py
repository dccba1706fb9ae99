"""Checking an intake request, in the old service's order: content type, JSON, schema,
workflow, payload size, payload schema, callback URL. Each failure is a clear AppError."""

import ast
import json
import math
import re
from dataclasses import dataclass

from django.conf import settings
from referencing.exceptions import Unresolvable

from jobs.models import Job
from jobs.workflows import SchemaUnresolvable, Workflow, schema_validator, workflow_for, workflows_for
from levqor.errors import AppError, ErrorCode
from levqor.webhooks.endpoints import webhook_url_shape_check
from levqor.webhooks.policy import webhook_https_required

INTAKE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["workflow", "payload"],
    "properties": {
        "workflow": {"type": "string", "minLength": 1, "maxLength": 128},
        "payload": {"type": "object"},
        "callback_url": {"type": "string", "minLength": 1, "maxLength": 1024},
        "priority": {"enum": ["low", "normal", "high"]},
    },
}
_INTAKE_VALIDATOR = schema_validator(INTAKE_SCHEMA)
PRIORITIES = {label: value for value, label in Job.Priority.choices}


@dataclass(frozen=True)
class IntakeRequest:
    workflow: Workflow
    payload: dict
    callback_url: str
    priority: int


_REQUIRED_SUFFIX = " is a required property"


def _missing_property(validator: str, message: str) -> str | None:
    """The property a "required" error is about (jsonschema only says so in its message)."""
    if validator == "required" and message.endswith(_REQUIRED_SUFFIX):
        try:
            name = ast.literal_eval(message[: -len(_REQUIRED_SUFFIX)])
        except (ValueError, SyntaxError):
            return None
        return name if isinstance(name, str) else None
    return None


def _field_name(path, prefix: str = "") -> str:
    """payload.messages[0].role: keys dotted, list indexes in brackets."""
    name = prefix
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _field_errors(error, *, prefix: str = "") -> list[dict]:
    """One {"field", "message", "validator"} per offending field, so a client can point at it."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return [{"field": _field_name([*path, name], prefix), "message": f"{name!r} is not an accepted field.",
                 "validator": error.validator} for name in extras]
    missing = _missing_property(error.validator, error.message)
    if missing:
        path.append(missing)
    return [{"field": _field_name(path, prefix) or "body", "message": error.message, "validator": error.validator}]


def _schema_errors(validator, instance, *, prefix: str = "") -> list[dict]:
    try:
        errors = list(validator.iter_errors(instance))
    except Unresolvable as exc:
        raise SchemaUnresolvable("The workflow's schema has a reference that cannot be resolved "
                                 "(only references inside the schema are followed).") from exc
    found = [item for error in errors for item in _field_errors(error, prefix=prefix)]
    return sorted(found, key=lambda item: item["field"])


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:40]} is out of range")
    return value


# Valid JSON that no JSON column can store (PostgreSQL's jsonb refuses both): \u0000 and a
# lone UTF-16 surrogate. Only bodies with such an escape are walked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _unstorable(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value or not value.isascii() and _has_lone_surrogate(value)
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_load(body: bytes):
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise AppError(ErrorCode.INVALID_JSON, "Invalid JSON", details={"reason": str(exc)[:200]}) from exc
    if _SUSPECT_ESCAPE.search(text) and _unstorable(data):
        raise AppError(ErrorCode.INVALID_JSON, "Invalid JSON",
                       details={"reason": "strings may not contain \\u0000 or unpaired surrogates"})
    return data


def _callback_url_check(url: str) -> str:
    """The webhook engine's shape rule (http(s) with a host; https where the engine requires it), so a
    callback the engine would refuse is refused here with a clear 400. Resolves nothing (cheap)."""
    try:
        return webhook_url_shape_check(url, field="callback_url")
    except AppError as exc:
        if webhook_https_required():
            raise AppError(ErrorCode.INVALID_CALLBACK_URL, "callback_url must be an https URL with a host.",
                           details={"field": "callback_url", "https_required": True}) from exc
        raise AppError(ErrorCode.INVALID_CALLBACK_URL, "callback_url must be an http or https URL with a host.",
                       details={"field": "callback_url"}) from exc


def intake_parse(*, body: bytes, content_type: str, legacy: bool = False, owner_id=None,
                 livemode: bool = True) -> IntakeRequest:
    """Parse and validate an intake body, or raise AppError saying what is wrong. `owner_id` and
    `livemode` say whose workflows count besides the built-ins (an installed partner module)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        # The old /intake answered 400 here; the new endpoint answers the proper 415.
        raise AppError(ErrorCode.INVALID_CONTENT_TYPE, "Content-Type must be application/json",
                       status=400 if legacy else None, details={"content_type": media_type or None})
    data = _json_load(body)
    errors = _schema_errors(_INTAKE_VALIDATOR, data)
    if errors:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The request body does not match the intake schema.",
                       details={"errors": errors})
    workflow = workflow_for(data["workflow"], owner_id=owner_id, livemode=livemode)
    if workflow is None:
        raise AppError(ErrorCode.UNKNOWN_WORKFLOW, f"There is no workflow called {data['workflow']!r}.",
                       details={"field": "workflow",
                                "known": [w.name for w in workflows_for(owner_id=owner_id, livemode=livemode)]})
    payload = data["payload"]
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > settings.JOB_PAYLOAD_MAX_BYTES:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"The payload is {size} bytes; the limit is "
                       f"{settings.JOB_PAYLOAD_MAX_BYTES} bytes.",
                       details={"field": "payload", "size_bytes": size, "limit_bytes": settings.JOB_PAYLOAD_MAX_BYTES})
    # Named the same way as the body's own fields (the workflow's schema is compiled once, there).
    try:
        payload_errors = _schema_errors(workflow.validator, payload, prefix="payload")
    except SchemaUnresolvable as exc:  # nothing fetched; the schema is refused, not the caller's fault alone
        raise AppError(ErrorCode.INVALID_PAYLOAD, str(exc), details={"workflow": workflow.name, "errors": []}) from exc
    if payload_errors:
        raise AppError(ErrorCode.INVALID_PAYLOAD, f"The payload does not fit the {workflow.name} workflow's schema.",
                       details={"workflow": workflow.name, "errors": payload_errors})
    callback_url = data.get("callback_url", "")
    if callback_url:
        callback_url = _callback_url_check(callback_url)
    return IntakeRequest(workflow=workflow, payload=payload, callback_url=callback_url,
                         priority=PRIORITIES[data.get("priority", "normal")])
