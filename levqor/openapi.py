"""The OpenAPI schema's description of the one error shape, added to every API operation.

A postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) rather than an annotation
per view: every endpoint can answer these errors (the authentication, rate-limit and body-size
layers sit in front of all of them), so listing them once keeps the schema true for new views.
"""

from levqor.errors import ErrorCode

ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error, whatever the status: a stable snake_case code, a human message, details "
                   "that depend on the code, and the correlation id also sent in the X-Request-ID header.",
    "properties": {
        "error": {
            "type": "string",
            "enum": [code.value for code in ErrorCode],
            "description": "The error code, one of the registry levqor.errors.ErrorCode:\n\n"
                           + "\n".join(f"- `{code.value}` ({code.status}): {code.description}" for code in ErrorCode),
        },
        "message": {"type": "string"},
        "details": {"type": "object", "additionalProperties": True},
        "correlation_id": {"type": "string"},
    },
    "required": ["error", "message", "details", "correlation_id"],
    "additionalProperties": True,  # the old contracts added fields (e.g. job_id on the old status 404)
}

# Statuses any API operation may answer (authentication, scopes, rate limits and the error
# handler sit in front of every one), and those an operation that takes input may answer too.
_ALWAYS = {"401": "Not authenticated", "403": "Not allowed", "404": "Not found", "405": "Method not allowed",
           "406": "Not acceptable", "429": "Over a limit; see Retry-After", "500": "Our error",
           "503": "A service we depend on is out of reach; see Retry-After"}
_WITH_INPUT = {"400": "Malformed or invalid input; details.errors[].field names what is wrong",
               "409": "The object's state does not allow this now", "413": "Too large",
               "415": "The body is not application/json", "422": "Understood but refused"}


def _description(status: str, summary: str) -> str:
    codes = ", ".join(code.value for code in ErrorCode if str(code.status) == status)
    return f"{summary} ({codes})." if codes else f"{summary}."


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
            for code, summary in codes.items():
                responses.setdefault(code, {"description": _description(code, summary),
                                            "content": {"application/json": {"schema": ref}}})
    return result
