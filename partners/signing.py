"""The signed partner API's request signatures (README, "Signed partner API").

A partner signs each request with its credential's secret:

    X-Levqor-Key-Id:    lpk_<24 hex>
    X-Levqor-Timestamp: unix seconds
    X-Levqor-Nonce:     16..64 characters of [A-Za-z0-9_-], never used twice
    X-Levqor-Signature: v1=<hex HMAC-SHA256(secret, signed string)>

The signed string is six lines joined by "\\n" (no newline at the end): the method in upper case,
the path as sent (percent-encoding kept), the query string as sent ("" when none), the timestamp,
the nonce, and the hex SHA-256 of the raw body (of b"" when empty). The HMAC key is the secret's
text (UTF-8), its lps_ prefix included.

signed_request_verify() checks one request: signature first (so nothing is told to someone who
cannot sign), then the 5-minute window, the partner's standing, and last the nonce, recorded in
the shared cache only now, so a forger cannot use up a partner's nonces."""

import hashlib
import hmac
import re
import secrets
import time
from urllib.parse import urlsplit

from django.core.cache import cache
from django.utils import timezone
from django.utils.encoding import escape_uri_path

from levqor.errors import AppError, ErrorCode
from partners.models import PartnerCredential

HEADER_KEY_ID = "X-Levqor-Key-Id"
HEADER_TIMESTAMP = "X-Levqor-Timestamp"
HEADER_NONCE = "X-Levqor-Nonce"
HEADER_SIGNATURE = "X-Levqor-Signature"
SIGNATURE_HEADERS = (HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
SIGNATURE_VERSION = "v1"
WINDOW_SECONDS = 300
# A nonce is remembered longer than a timestamp is accepted either way, so no replay fits between.
NONCE_TTL_SECONDS = 2 * WINDOW_SECONDS + 60

KEY_ID_RE = re.compile(r"^lpk_[0-9a-f]{24}$")
NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_RE = re.compile(r"^v1=([0-9a-fA-F]{64})$")
_UNKNOWN_KEY_SECRET = secrets.token_urlsafe(32)  # never matches: only spends the time a real check would


def signing_string(*, method: str, path: str, query: str, timestamp: str | int, nonce: str, body: bytes) -> bytes:
    """The bytes a signature is made over (see the module's docstring)."""
    lines = [method.upper(), path, query or "", str(timestamp), nonce, hashlib.sha256(body or b"").hexdigest()]
    return "\n".join(lines).encode()


def signature_compute(*, secret: str, method: str, path: str, query: str, timestamp: str | int, nonce: str,
                      body: bytes) -> str:
    """The hex HMAC-SHA256 of the signing string with `secret`."""
    message = signing_string(method=method, path=path, query=query, timestamp=timestamp, nonce=nonce, body=body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(*, key_id: str, secret: str, method: str, path: str, query: str = "", body: bytes = b"",
                   timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The four headers of a signed request (for clients in Python: our tests, our own tools)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_urlsafe(18)
    signature = signature_compute(secret=secret, method=method, path=path, query=query, timestamp=timestamp,
                                  nonce=nonce, body=body)
    return {HEADER_KEY_ID: key_id, HEADER_TIMESTAMP: str(timestamp), HEADER_NONCE: nonce,
            HEADER_SIGNATURE: f"{SIGNATURE_VERSION}={signature}"}


def request_signed_target(request) -> tuple[str, str]:
    """(path, query) of a Django request as the client sent them. The raw request target when the
    server passes it on (gunicorn's RAW_URI, others' REQUEST_URI); otherwise the decoded path
    percent-encoded again the way Django does (RFC 3986: unreserved characters and sub-delims
    as they are), which is what a client that encodes only what it must has sent."""
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI") or ""
    if raw:
        path = urlsplit(raw).path if not raw.startswith("/") else raw.partition("?")[0].partition("#")[0]
    else:
        path = escape_uri_path(request.path)
    return path or "/", request.META.get("QUERY_STRING", "")


def signature_refused(reason: str, message: str, **details) -> AppError:
    return AppError(ErrorCode.SIGNATURE_INVALID, message, details={"reason": reason, **details})


def _header_values(headers) -> dict[str, str]:
    missing = [name for name in SIGNATURE_HEADERS if not (headers.get(name) or "").strip()]
    if missing:
        raise signature_refused("missing_headers", f"A signed partner request needs the headers {', '.join(missing)}.",
                                missing=missing)
    values = {name: headers.get(name).strip() for name in SIGNATURE_HEADERS}
    checks = ((HEADER_KEY_ID, KEY_ID_RE, "lpk_ followed by 24 lowercase hex digits"),
              (HEADER_TIMESTAMP, TIMESTAMP_RE, "the time in whole unix seconds"),
              (HEADER_NONCE, NONCE_RE, "16 to 64 characters of A-Z, a-z, 0-9, _ and -"),
              (HEADER_SIGNATURE, SIGNATURE_RE, "v1= followed by the 64 hex digits of the HMAC-SHA256"))
    for name, pattern, expected in checks:
        if not pattern.match(values[name]):
            raise signature_refused("malformed_header", f"The {name} header must be {expected}.", header=name)
    return values


def signed_request_verify(*, headers, method: str, path: str, query: str, body: bytes) -> PartnerCredential:
    """The credential that signed this request, with its partner (and owner) loaded; or AppError:
    401 signature_invalid (headers missing or malformed; or, one answer for all three, key id
    unknown or revoked or signature wrong), 401 signature_expired (timestamp over WINDOW_SECONDS from now either way), 403
    partner_not_approved, 401 nonce_reused. The shared cache out of reach raises its own error
    (levqor.store.STORE_DOWN), which the API answers 503."""
    values = _header_values(headers)
    credential = (PartnerCredential.objects.select_related("partner", "partner__owner")
                  .filter(key_id=values[HEADER_KEY_ID], revoked_at__isnull=True, partner__deleted_at__isnull=True)
                  .first())
    now = timezone.now()
    usable = credential is not None and credential.partner.owner.is_active  # a deactivated owner's: as revoked
    secrets_now = credential.verifying_secrets(now) if usable else []
    given = SIGNATURE_RE.match(values[HEADER_SIGNATURE]).group(1).lower()
    timestamp, nonce = values[HEADER_TIMESTAMP], values[HEADER_NONCE]
    # Unknown, revoked and wrongly signed get one answer, after the same HMAC work (a secret that
    # never matches stands in for a missing key): which key ids exist is nobody's business. signed_as
    # holds only what the request itself carries, so it is in every such answer and tells nothing.
    matched = False
    for secret in secrets_now or [_UNKNOWN_KEY_SECRET]:
        expected = signature_compute(secret=secret, method=method, path=path, query=query, timestamp=timestamp,
                                     nonce=nonce, body=body)
        matched |= hmac.compare_digest(expected, given)  # every secret tried: the time taken tells nothing
    if not (matched and secrets_now):
        raise signature_refused(
            "signature_mismatch", "The key id is unknown or revoked, or the signature does not match the request.",
            signed_as={"method": method.upper(), "path": path, "query": query,
                       "body_sha256": hashlib.sha256(body or b"").hexdigest()})
    skew = int(now.timestamp()) - int(timestamp)
    if abs(skew) > WINDOW_SECONDS:
        raise AppError(ErrorCode.SIGNATURE_EXPIRED,
                       f"The request's timestamp is {abs(skew)} s {'behind' if skew > 0 else 'ahead of'} our clock; "
                       f"at most {WINDOW_SECONDS} s either way is accepted.",
                       details={"timestamp": int(timestamp), "server_time": int(now.timestamp()),
                                "window_seconds": WINDOW_SECONDS})
    partner = credential.partner
    if not partner.is_approved:
        raise AppError(ErrorCode.PARTNER_NOT_APPROVED,
                       f"The partner is {partner.get_status_display().lower()}: only an approved partner may use the "
                       "partner API.", details={"status": partner.status})
    # Recorded only now, after the signature verified; add() is atomic on the shared cache, so two
    # web processes given the same request at once let one through.
    if not cache.add(f"partners:nonce:{credential.key_id}:{nonce}", 1, NONCE_TTL_SECONDS):
        raise AppError(ErrorCode.NONCE_REUSED, "This nonce was used before: a signed request is accepted once.",
                       details={"nonce": nonce})
    return credential
