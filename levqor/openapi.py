"""The OpenAPI schema's description of the one error shape, added to every API operation.

A postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) rather than an annotation
per view: every endpoint can answer these errors (the authentication, rate-limit and body-size
layers sit in front of all of them), so listing them once keeps the schema true for new views.
"""

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error, whatever the status: a stable snake_case code, a human message, details "
                   "that depend on the code, and the correlation id also sent in the X-Request-ID header.",
    "properties": {
        "error": {"type": "string", "example": "validation_failed"},
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": True},
        "correlation_id": {"type": "string"},
    },
    "required": ["error", "message", "details", "correlation_id"],
    "additionalProperties": True,  # the old contracts added fields (e.g. job_id on the old status 404)
}

# Answers any API operation may give.
_ALWAYS = {
    "401": "No API key, or one that is not valid, was revoked or expired (not_authenticated, invalid_api_key).",
    "403": "The key may not do this (insufficient_scope, permission_denied, terms_not_accepted).",
    "404": "No such object for this key's owner and mode, or nothing at this address (not_found).",
    "405": "This method is not allowed here (method_not_allowed).",
    "406": "The Accept header asks for a format the API does not speak (not_acceptable).",
    "429": "Over a rate limit (rate_limited) or the month's quota (quota_exceeded); see Retry-After.",
    "500": "Something went wrong on our side (internal_error); the correlation id finds it in the logs.",
}
# Answers an operation that takes parameters or a body may give.
_WITH_INPUT = {
    "400": "The request is malformed or does not validate (invalid_json, validation_failed, ...); "
           "details.errors[].field names what is wrong.",
    "409": "The object's state does not allow this now (e.g. job_not_cancellable, idempotency_in_flight).",
    "413": "The body or payload is too large (request_too_large, payload_too_large).",
    "415": "The body is not application/json (invalid_content_type).",
    "422": "Understood but refused (cost_limit_exceeded, idempotency_key_reused).",
}


def error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the Error component, and the error answers of every
    /api/ operation that does not describe them itself."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            codes = dict(_ALWAYS)
            if method != "get" or operation.get("parameters"):
                codes.update(_WITH_INPUT)
            responses = operation.setdefault("responses", {})
            for code, description in codes.items():
                responses.setdefault(code, {"description": description,
                                            "content": {"application/json": {"schema": ref}}})
    return result
