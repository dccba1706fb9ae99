"""Checking an intake request, in the old service's order: content type, JSON, schema,
workflow, payload schema, payload size, callback URL. Each failure is a clear ApiError."""

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from jsonschema import Draft202012Validator, FormatChecker

from jobs.models import Job
from jobs.workflows import Workflow, workflow_all, workflow_get
from levqor.errors import ApiError

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
_INTAKE_VALIDATOR = Draft202012Validator(INTAKE_SCHEMA, format_checker=FormatChecker())
PRIORITIES = {label: value for value, label in Job.Priority.choices}


@dataclass(frozen=True)
class IntakeRequest:
    workflow: Workflow
    payload: dict
    callback_url: str
    priority: int


def _field_of(error) -> str:
    if error.validator == "additionalProperties":
        return "body"
    if error.validator == "required":
        return error.message.split("'")[1] if "'" in error.message else "body"
    return ".".join(str(p) for p in error.absolute_path) or "body"


def intake_parse(*, body: bytes, content_type: str, legacy: bool = False) -> IntakeRequest:
    """Parse and validate an intake body, or raise ApiError saying what is wrong."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        # The old /intake answered 400 here; the new endpoint answers the proper 415.
        raise ApiError("invalid_content_type", "Content-Type must be application/json",
                       status_code=400 if legacy else 415, details={"content_type": media_type or None})
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("invalid_json", "Invalid JSON", details={"reason": str(exc)[:200]}) from exc
    errors = sorted(_INTAKE_VALIDATOR.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise ApiError("validation_failed", "The request body does not match the intake schema.",
                       details={"errors": [{"field": _field_of(e), "message": e.message} for e in errors]})
    workflow = workflow_get(data["workflow"])
    if workflow is None:
        raise ApiError("unknown_workflow", f"There is no workflow called {data['workflow']!r}.",
                       details={"field": "workflow", "known": [w.name for w in workflow_all()]})
    payload = data["payload"]
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size > settings.JOB_PAYLOAD_MAX_BYTES:
        raise ApiError("payload_too_large", f"The payload is {size} bytes; the limit is "
                       f"{settings.JOB_PAYLOAD_MAX_BYTES} bytes.", status_code=413,
                       details={"field": "payload", "size_bytes": size, "limit_bytes": settings.JOB_PAYLOAD_MAX_BYTES})
    payload_errors = workflow.payload_errors(payload)
    if payload_errors:
        raise ApiError("invalid_payload", f"The payload does not fit the {workflow.name} workflow's schema.",
                       details={"workflow": workflow.name, "errors": payload_errors})
    callback_url = data.get("callback_url", "")
    if callback_url:
        try:
            parts = urlsplit(callback_url)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            usable = False
        if not usable:
            raise ApiError("invalid_callback_url", "callback_url must be an http or https URL with a host.",
                           details={"field": "callback_url"})
    return IntakeRequest(workflow=workflow, payload=payload, callback_url=callback_url,
                         priority=PRIORITIES[data.get("priority", "normal")])
