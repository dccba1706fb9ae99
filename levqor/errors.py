"""The application's errors, apart from any web framework.

Services raise `AppError(ErrorCode.X, message, details=...)`. Every code is a member of one
registry, `ErrorCode`: its stable snake_case value is what clients see in `"error"`, and it
carries the HTTP status it usually means (a hint; a caller may say otherwise, e.g. the old
intake's 400 where the new one answers 415) and what it means (listed in the OpenAPI schema).
The web layer (`levqor.http_errors`) translates an AppError into the one error shape, for DRF
views, middleware and plain Django views alike. This module imports neither DRF nor Django's
HTTP machinery, so any layer may raise from it without an import cycle.
"""

from enum import StrEnum

# What a 401 asks for (RFC 9110: every 401 names its challenge): an API key, sent as a bearer token.
API_KEY_CHALLENGE = 'Bearer realm="api"'


class ErrorCode(StrEnum):
    """Every error code the service answers with: value, usual HTTP status, meaning."""

    def __new__(cls, value: str, status: int, description: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.description = description
        return member

    # Requests that cannot be read.
    BAD_REQUEST = "bad_request", 400, "The request could not be understood (e.g. a Content-Length that is no number)."
    INVALID_JSON = "invalid_json", 400, "The body is not valid JSON, or holds what JSON cannot store."
    INVALID_CONTENT_TYPE = "invalid_content_type", 415, "The body is not application/json."
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", 415, "The body's media type is not one this endpoint reads."
    REQUEST_TOO_LARGE = "request_too_large", 413, "The request body is over the size limit."
    LENGTH_REQUIRED = "length_required", 411, "A chunked body reached a server that cannot read one; send Content-Length."
    NOT_ACCEPTABLE = "not_acceptable", 406, "The Accept header asks for a format the API does not speak."
    METHOD_NOT_ALLOWED = "method_not_allowed", 405, "This method is not allowed here."
    CSRF_FAILED = "csrf_failed", 403, "A form or session request failed its CSRF check."

    # Validation.
    VALIDATION_FAILED = "validation_failed", 400, "The input does not validate; details say which field and why."
    UNKNOWN_WORKFLOW = "unknown_workflow", 400, (
        "There is no workflow of that name (409 when retrying a job whose workflow is gone).")
    INVALID_PAYLOAD = "invalid_payload", 400, "The payload does not fit the workflow's schema."
    PAYLOAD_TOO_LARGE = "payload_too_large", 413, "The job payload is over its size limit."
    INVALID_CALLBACK_URL = "invalid_callback_url", 400, "callback_url is not an http(s) URL with a host."
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key", 400, "The Idempotency-Key header is too long."
    INVALID_WEBHOOK_URL = "invalid_webhook_url", 400, (
        "The webhook URL is not allowed: https is required in production, and it must reach a public host.")
    UNKNOWN_EVENT_TYPE = "unknown_event_type", 400, "An event type is not one this endpoint's audience can subscribe to."

    # Who may do what.
    NOT_AUTHENTICATED = "not_authenticated", 401, "No API key and no session."
    INVALID_API_KEY = "invalid_api_key", 401, "The API key is not valid, or was revoked or expired."
    INSUFFICIENT_SCOPE = "insufficient_scope", 403, "The API key lacks the scope this request needs."
    PERMISSION_DENIED = "permission_denied", 403, "The caller may not do this."
    TERMS_NOT_ACCEPTED = "terms_not_accepted", 403, "The current terms of service must be accepted first."
    NOT_FOUND = "not_found", 404, "No such object for this caller, or nothing at this address."
    SIGNATURE_INVALID = "signature_invalid", 401, (
        "The partner request's signature is missing, malformed, or does not verify with the key id's secret.")
    SIGNATURE_EXPIRED = "signature_expired", 401, "The partner request's timestamp is more than 5 minutes from ours."
    NONCE_REUSED = "nonce_reused", 401, "The partner request's nonce was seen before (a replay)."
    PARTNER_NOT_APPROVED = "partner_not_approved", 403, "Only an approved partner may do this."
    INVALID_SIGNATURE = "invalid_signature", 400, (
        "The Stripe-Signature header does not verify with the webhook secret (or is missing or too old).")
    PATH_FORBIDDEN = "path_forbidden", 403, "The governance policy forbids partner credentials on this path."

    # State that does not allow the request now.
    JOB_NOT_CANCELLABLE = "job_not_cancellable", 409, "The job has finished and cannot be cancelled."
    JOB_NOT_RETRYABLE = "job_not_retryable", 409, "Only failed or cancelled jobs can be retried."
    KEY_NOT_ACTIVE = "key_not_active", 409, "The API key is revoked or expired."
    NO_TERMS_PUBLISHED = "no_terms_published", 409, "There are no published terms to accept."
    PARTNER_EXISTS = "partner_exists", 409, "This account already owns a partner."
    PARTNER_TRANSITION_NOT_ALLOWED = "partner_transition_not_allowed", 409, (
        "The partner's status does not allow this change (e.g. approving a suspended partner: reinstate it).")
    CREDENTIAL_LIMIT_REACHED = "credential_limit_reached", 409, (
        "The partner has as many live credentials as allowed; revoke one first.")
    CREDENTIAL_REVOKED = "credential_revoked", 409, "The partner credential is revoked; create a new one instead."
    ENDPOINT_DISABLED = "endpoint_disabled", 409, "The webhook endpoint is disabled; enable it first."
    DELIVERY_NOT_REPLAYABLE = "delivery_not_replayable", 409, (
        "This delivery's body was not kept (a job callback moved from the old callback table); it cannot be sent again.")
    REPORT_EXISTS = "report_exists", 409, "You already have an open report on this partner; it is being reviewed."
    REPORT_NOT_OPEN = "report_not_open", 409, "The report was reviewed already (upheld or dismissed)."
    ALREADY_SUBSCRIBED = "already_subscribed", 409, (
        "The account already has an active subscription (to this tier, or another: change plans in the billing portal).")
    NO_BILLING_CUSTOMER = "no_billing_customer", 409, (
        "The account has no Stripe customer in this mode yet: subscribe through checkout first.")
    IDEMPOTENCY_IN_FLIGHT = "idempotency_in_flight", 409, "A request with this Idempotency-Key is still being processed."
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused", 422, "The Idempotency-Key was used with another request body."
    COST_LIMIT_EXCEEDED = "cost_limit_exceeded", 422, "The job's estimated cost is over the per-job or daily limit."
    SUGGESTION_DECIDED = "suggestion_decided", 409, (
        "The price or discount suggestion was applied, dismissed or deactivated already; compute a new one.")
    PRICE_UNCHANGED = "price_unchanged", 409, "The suggested price is the tier's current price: nothing to apply."
    TIER_PRICE_MISSING = "tier_price_missing", 409, (
        "The tier has no active Stripe price here yet: run manage.py stripe_sync_products first.")
    DISCOUNT_EXPIRED = "discount_expired", 409, "The discount code is past its valid_until; it cannot be activated."
    LISTING_NOT_AVAILABLE = "listing_not_available", 409, (
        "The listing is not published (pending review, rejected or delisted): it cannot be bought or installed.")
    LISTING_TRANSITION_NOT_ALLOWED = "listing_transition_not_allowed", 409, (
        "The listing's status does not allow this change (e.g. approving a listing that is not pending review).")
    ALREADY_INSTALLED = "already_installed", 409, "The listing is installed on this account already."
    ALREADY_REVIEWED = "already_reviewed", 409, "This account has reviewed the listing already; a listing is reviewed once."
    NOT_A_BUYER = "not_a_buyer", 403, "Only an account that installed the listing may review it."
    TOKEN_UNKNOWN = "token_unknown", 400, "The confirmation token is not one we issued."
    TOKEN_USED = "token_used", 400, "The confirmation token was already used."
    TOKEN_EXPIRED = "token_expired", 400, "The confirmation token has expired."

    # Limits and the service itself.
    RATE_LIMITED = "rate_limited", 429, "Over a rate limit; see Retry-After."
    QUOTA_EXCEEDED = "quota_exceeded", 429, "The month's API calls are used up; see Retry-After and details.reset_at."
    QUEUE_FULL = "queue_full", 503, (
        "Too many jobs are waiting to run (over the queue limit); intake takes new ones again shortly, see Retry-After.")
    BILLING_NOT_CONFIGURED = "billing_not_configured", 503, (
        "Billing is not configured on this deployment (no Stripe key for this mode).")
    BILLING_PROVIDER_ERROR = "billing_provider_error", 502, (
        "Stripe refused the request; details carry its error code. Nothing was charged.")
    SERVICE_UNAVAILABLE = "service_unavailable", 503, "A service we depend on is out of reach; retry shortly."
    INTERNAL_ERROR = "internal_error", 500, "Something went wrong on our side; the correlation id finds it."


class AppError(Exception):
    """An error a caller should see: a registered code, a human message, details that depend on
    the code, and the HTTP status to answer with (the code's own unless given). `retry_after`
    (seconds) says when trying again may work; `legacy_fields` are top-level fields an old
    Levqor contract had beside "error", kept so old clients keep working."""

    def __init__(self, code: ErrorCode, message: str, *, details: dict | None = None, status: int | None = None,
                 retry_after: int | None = None, legacy_fields: dict | None = None):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.details = details or {}
        self.status = status or self.code.status
        self.retry_after = retry_after
        self.legacy_fields = legacy_fields or {}

    def __repr__(self) -> str:
        return f"AppError({self.code.value!r}, {self.message!r}, status={self.status})"
