"""A run of an installed partner module (the handler of the workflow `partner.<slug>`, modules.py):
POST the job to the listing's endpoint, signed the Standard Webhooks way with the listing's secret,
and keep the partner's JSON answer as the job's result.

The call goes through the webhook engine's one outbound POST (levqor.webhooks.post): https where
the policy requires it, the SSRF guard pinned to the address it checked, and a hard deadline over
the whole exchange (the policy's webhook timeout, never past the job's own). The message id is the
job's (`msg_job_<id>`), the same on every attempt, so the partner can deduplicate retries.

How an answer ends the attempt:
- 2xx with a JSON object of at most MARKETPLACE_MODULE_MAX_RESPONSE_BYTES: the job's result;
- 408, 425, 429, 5xx, a timeout, a connection that failed: transient (retried with backoff);
- any other status: module_rejected, permanent (the partner refused this payload);
- 2xx that is not a JSON object, or too long: module_bad_response, permanent;
- a target the guard refuses: target_not_allowed, permanent.

Test mode: the call is the module's function, so a test-mode job calls the endpoint too, with
"livemode": false in the body; the partner must not cause real side effects for it (as Stripe's
test mode works). Nothing else of Levqor's (no payment, no email) happens in a run."""

import json
import logging
import time

from django.conf import settings

from jobs.workflows.base import JobContext, JobError, JobErrorCode, TransientJobError
from levqor.webhooks.post import webhook_post
from levqor.webhooks.signing import webhook_headers
from marketplace.models import Listing

logger = logging.getLogger("levqor.marketplace")

# The module's own stable error codes (the job's error.code); jobs' codes where they fit.
MODULE_REJECTED = "module_rejected"
MODULE_BAD_RESPONSE = "module_bad_response"
MODULE_UNAVAILABLE = "module_unavailable"
TRANSIENT_STATUSES = frozenset({408, 425, 429})
SNIPPET_CHARS = 300


def module_message_id(job_id) -> str:
    """The webhook-id of every attempt of one job: stable, so the partner can deduplicate retries."""
    return f"msg_job_{job_id}"


def module_run_body(ctx: JobContext, payload: dict, listing: Listing) -> bytes:
    return json.dumps({
        "type": "module.run", "job_id": str(ctx.job_id), "attempt": ctx.attempt, "livemode": ctx.livemode,
        "listing": {"id": str(listing.pk), "slug": listing.slug}, "payload": payload,
    }, separators=(",", ":")).encode()


def _listing_for_run(listing_id) -> Listing:
    listing = Listing.objects.filter(pk=listing_id).first()
    if listing is None or not listing.signing_secrets():
        raise JobError(MODULE_UNAVAILABLE, "This module is no longer available.",
                       details={"listing_id": str(listing_id)})
    return listing


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def module_run(ctx: JobContext, payload: dict, *, listing_id) -> dict:
    """Run the module `listing_id` for this job: the partner's JSON answer (an object), or a JobError
    saying why not (TransientJobError for what a retry may fix)."""
    from marketplace.services.modules import module_timeout_seconds

    listing = _listing_for_run(listing_id)
    body = module_run_body(ctx, payload, listing)
    headers = webhook_headers(secret=listing.signing_secrets(), msg_id=module_message_id(ctx.job_id),
                              timestamp=int(time.time()), body=body)
    headers["X-Levqor-Job-Id"] = str(ctx.job_id)
    ctx.checkpoint()  # cancelled or out of time: no call
    timeout = max(min(module_timeout_seconds(), ctx.remaining()), 0.001)
    cap = settings.MARKETPLACE_MODULE_MAX_RESPONSE_BYTES
    result = webhook_post(listing.endpoint, body=body, headers=headers, timeout=timeout, read_limit=cap)
    details = {"listing": listing.slug, "status": result.status_code, "duration_ms": result.duration_ms}
    if result.refused:
        raise JobError(JobErrorCode.TARGET_NOT_ALLOWED, f"The module's endpoint may not be called: {result.error}",
                       details=details)
    if result.timed_out:
        raise TransientJobError(JobErrorCode.UPSTREAM_TIMEOUT,
                                f"The module did not answer within {timeout:g} s.", details=details)
    if result.status_code is None:
        raise TransientJobError(JobErrorCode.UPSTREAM_UNREACHABLE, f"The module could not be reached: {result.error}",
                                details=details)
    snippet = result.content[:SNIPPET_CHARS * 4].decode("utf-8", "replace")[:SNIPPET_CHARS]
    status = result.status_code
    if status in TRANSIENT_STATUSES or status >= 500:
        raise TransientJobError(JobErrorCode.UPSTREAM_STATUS, f"The module answered {status}.",
                                details={**details, "snippet": snippet})
    if not 200 <= status < 300:
        raise JobError(MODULE_REJECTED, f"The module refused the run: it answered {status}.",
                       details={**details, "snippet": snippet})
    if result.truncated:
        raise JobError(MODULE_BAD_RESPONSE, f"The module's answer is longer than {cap} bytes.", details=details)
    try:
        answer = json.loads(result.content, parse_constant=_not_json)  # NaN / Infinity are not JSON
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise JobError(MODULE_BAD_RESPONSE, "The module's answer is not a JSON object.",
                       details={**details, "snippet": snippet})
    return answer
