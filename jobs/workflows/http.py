"""http.request: make one HTTP call and keep its status, headers and (capped) body as the result."""

from decimal import Decimal

import httpx
from django.conf import settings

from jobs.workflows.base import JobContext, JobError, JobErrorCode, TransientJobError, Workflow
from levqor.outbound import OutboundTargetRefused, OutboundTransport, outbound_url_check

SCHEMA = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]},
        "url": {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2048},
        "headers": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 4096},
                    "maxProperties": 50},
        "body": {"type": ["string", "object", "array", "null"]},
        "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
    },
}
# Headers the caller may not set: they belong to the transport or would spoof us.
_FORBIDDEN_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "x-levqor-job-id"}
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def handle(ctx: JobContext, payload: dict) -> dict:
    url = payload["url"]
    try:
        outbound_url_check(url)
    except OutboundTargetRefused as exc:
        raise JobError(JobErrorCode.TARGET_NOT_ALLOWED, str(exc)) from exc
    headers = {k: v for k, v in (payload.get("headers") or {}).items() if k.lower() not in _FORBIDDEN_HEADERS}
    # Outbound calls carry the job id so the far end can deduplicate retries.
    headers["X-Levqor-Job-Id"] = str(ctx.job_id)
    body = payload.get("body")
    kwargs = {"content": body} if isinstance(body, str) else ({"json": body} if body is not None else {})
    timeout = min(payload.get("timeout_seconds", 30), max(ctx.remaining(), 0.1))
    cap = settings.HTTP_REQUEST_MAX_RESPONSE_BYTES
    ctx.checkpoint()
    try:
        # The transport connects only to the address it checks (no DNS rebinding past the check above).
        with httpx.Client(timeout=timeout, follow_redirects=False, transport=OutboundTransport()) as client:
            with client.stream(payload.get("method", "GET"), url, headers=headers, **kwargs) as response:
                chunks, size, truncated = [], 0, False
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > cap:
                        truncated = True
                        break
                    ctx.checkpoint()
    except OutboundTargetRefused as exc:
        raise JobError(JobErrorCode.TARGET_NOT_ALLOWED, str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise TransientJobError(JobErrorCode.UPSTREAM_TIMEOUT, f"The request timed out after {timeout:g} s.") from exc
    except httpx.TransportError as exc:
        raise TransientJobError(JobErrorCode.UPSTREAM_UNREACHABLE, f"The request failed: {type(exc).__name__}.") from exc
    raw = b"".join(chunks)[:cap]
    result = {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": raw.decode(response.encoding or "utf-8", errors="replace"),
        "body_truncated": truncated,
    }
    if response.status_code in TRANSIENT_STATUSES:
        raise TransientJobError(JobErrorCode.UPSTREAM_STATUS, f"The target answered {response.status_code}.",
                                details={"response": result})
    return result


WORKFLOW = Workflow(
    name="http.request",
    description="Calls a public HTTP(S) URL. Private, loopback and link-local targets are refused.",
    payload_schema=SCHEMA,
    handler=handle,
    estimate_cost=lambda payload: Decimal("0.0005"),
    timeout_seconds=65,
    max_attempts=3,
)
