"""Writes on API keys: create, rotate, revoke, import, each with its audit event. A write that
changes whether a key authenticates drops the key's cached lookup (key_auth) on every process."""

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import DEFAULT_SCOPES, OPERATOR_SCOPE, ApiKey, ApiKeyEvent, User
from accounts.services.key_auth import (
    KEY_MAX_LENGTH,
    KEY_MIN_LENGTH,
    api_key_cache_forget,
    api_key_hash,
    api_key_looks_valid,
)
from levqor.errors import AppError, ErrorCode

# A rotated key keeps working this long by default, so clients can move to the new one.
ROTATION_GRACE_SECONDS = 86400
ROTATION_GRACE_MAX_SECONDS = 30 * 86400
IMPORTED_KEY_NAME = "imported"


def api_key_scopes_allowed_check(*, owner: User, scopes: Iterable[str]) -> None:
    """Only a staff member may hold a key with the operators' scope (admin:read): 403
    permission_denied naming the scope otherwise. Every way a key is made (API, portal, admin,
    create_api_key, a rotation's successor) goes through api_key_create, which asks this."""
    if OPERATOR_SCOPE in scopes and not (owner.is_staff and owner.is_active):
        raise AppError(ErrorCode.PERMISSION_DENIED,
                       f"Only Levqor staff may hold a key with the {OPERATOR_SCOPE} scope; {owner.email} is not staff.",
                       details={"field": "scopes", "scope": OPERATOR_SCOPE})


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str


def api_key_create(*, owner: User, name: str = "", livemode: bool = True, expires_at: datetime | None = None,
                   scopes: Iterable[str] | None = None, rotated_from: ApiKey | None = None,
                   actor: User | None = None, ip: str | None = None, details: dict | None = None) -> CreatedApiKey:
    """Make a key with 128 random bits; store only its hash. The raw key is returned once.
    The creation is audited (actor, ip, details such as {"via": "api"}). Only staff may hold
    admin:read (api_key_scopes_allowed_check: 403 permission_denied)."""
    scopes = list(DEFAULT_SCOPES if scopes is None else scopes)
    api_key_scopes_allowed_check(owner=owner, scopes=scopes)
    raw = (ApiKey.LIVE_PREFIX if livemode else ApiKey.TEST_PREFIX) + secrets.token_hex(16)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            owner=owner, name=name, livemode=livemode, expires_at=expires_at,
            scopes=scopes, rotated_from=rotated_from,
            prefix=raw[: len(ApiKey.LIVE_PREFIX) + 4], key_hash=api_key_hash(raw),
        )
        _event(api_key, ApiKeyEvent.Action.CREATED, actor=actor, ip=ip, details=details)
    return CreatedApiKey(api_key=api_key, raw_key=raw)


class ApiKeyNotUsable(Exception):
    """The key is revoked or expired, so it cannot be rotated."""

    def __init__(self, api_key: ApiKey):
        super().__init__(f"API key {api_key.pk} is revoked or expired.")
        self.api_key = api_key


def api_key_rotate(*, api_key: ApiKey, grace_seconds: int = ROTATION_GRACE_SECONDS, actor: User | None = None,
                   ip: str | None = None, details: dict | None = None) -> CreatedApiKey:
    """Replace a usable key by a new one with the same owner, name, mode, scopes and lifetime.
    The old key keeps working for grace_seconds (0: it stops now), then expires; an earlier
    expiry it already had stays. Both keys get an audit row. Raises ApiKeyNotUsable when the
    key is already revoked or expired (there is nothing to hand over)."""
    if not 0 <= grace_seconds <= ROTATION_GRACE_MAX_SECONDS:
        raise ValueError(f"grace_seconds must be between 0 and {ROTATION_GRACE_MAX_SECONDS}.")
    with transaction.atomic():
        # Locked, so two rotations of one key at once give one successor, not two.
        old = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        now = timezone.now()
        if not old.is_usable(now):
            raise ApiKeyNotUsable(old)
        cut_off = now + timedelta(seconds=grace_seconds)
        original_expiry = old.expires_at
        old.expires_at = cut_off if original_expiry is None else min(original_expiry, cut_off)
        old.save(update_fields=["expires_at"])
        created = api_key_create(owner=old.owner, name=old.name, livemode=old.livemode, scopes=old.scopes,
                                 expires_at=original_expiry, rotated_from=old, actor=actor, ip=ip,
                                 details={**(details or {}), "rotated_from": str(old.pk)})
        _event(old, ApiKeyEvent.Action.ROTATED, actor=actor, ip=ip,
               details={**(details or {}), "replaced_by": str(created.api_key.pk), "grace_seconds": grace_seconds,
                        "expires_at": old.expires_at.isoformat()})
    # Every process must see the new expiry, not its cached copy of the old one: forget now, and
    # again once an enclosing transaction commits (a process could re-cache the old row meanwhile).
    api_key_cache_forget(old.key_hash)
    transaction.on_commit(lambda: api_key_cache_forget(old.key_hash))
    api_key.expires_at = old.expires_at
    return created


def api_key_revoke(*, api_key: ApiKey, actor: User | None = None, ip: str | None = None,
                   details: dict | None = None) -> ApiKey:
    """Revoke at once, on every process: the row is marked and the shared cached lookup dropped.
    Revoking a revoked key changes nothing and writes no second audit row."""
    now = timezone.now()
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
        if revoked:
            api_key.revoked_at = now
            _event(api_key, ApiKeyEvent.Action.REVOKED, actor=actor, ip=ip, details=details)
    # Forget now, and again once an enclosing transaction commits (an erasure goes on after this):
    # a request meanwhile could re-cache the row as committed, still usable.
    api_key_cache_forget(api_key.key_hash)
    transaction.on_commit(lambda: api_key_cache_forget(api_key.key_hash))
    if not revoked:
        api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_import(*, owner: User, raw_key: str, details: dict | None = None) -> ApiKey | None:
    """Store a key of the old service (any format) as a live key of owner, hashed like ours, so
    its clients keep working. None when that key is already stored (import is idempotent).
    Raises ValueError for a value that could never authenticate (see api_key_looks_valid)."""
    if not api_key_looks_valid(raw_key):
        raise ValueError(f"A key must be {KEY_MIN_LENGTH}..{KEY_MAX_LENGTH} printable ASCII characters without spaces.")
    digest = api_key_hash(raw_key)
    if ApiKey.objects.filter(key_hash=digest).exists():
        return None
    try:
        with transaction.atomic():
            # Four characters to recognise it by, as our own keys show theirs after the mode prefix.
            api_key = ApiKey.objects.create(owner=owner, name=IMPORTED_KEY_NAME, livemode=True, prefix=raw_key[:4],
                                            key_hash=digest, scopes=list(DEFAULT_SCOPES))
            _event(api_key, ApiKeyEvent.Action.CREATED, details={"via": "import", **(details or {})})
    except IntegrityError:
        return None  # imported by a concurrent run
    # A client may have tried this key before the import: its cached miss must not linger.
    api_key_cache_forget(digest)
    return api_key


def _event(api_key: ApiKey, action: str, *, actor: User | None = None, ip: str | None = None,
           details: dict | None = None) -> ApiKeyEvent:
    return ApiKeyEvent.objects.create(api_key=api_key, key_prefix=api_key.prefix, action=action, actor=actor,
                                      ip=ip or None, details=details or {})
