"""Writes on users and API keys."""

import contextlib
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from accounts.models import DEFAULT_SCOPES, ApiKey, ApiKeyEvent, ApiUsage, Referral, User, email_normalise
from accounts.quotas import Usage, month_before, month_of, month_reset_at, quota_limit, usage_cache_key
from levqor.errors import AppError, ErrorCode
from levqor.tokens import secret_digest
from levqor.webhooks import webhook_secret_generate

KEY_CACHE_SECONDS = 60
LAST_USED_WRITE_INTERVAL_SECONDS = 60
# What a presented key must look like before we hash it and ask the cache: our lvk_ keys and the
# keys imported from the old service's env lists (any printable ASCII, no spaces), within sane lengths.
KEY_MIN_LENGTH = 16
KEY_MAX_LENGTH = 100
# A rotated key keeps working this long by default, so clients can move to the new one.
ROTATION_GRACE_SECONDS = 86400
ROTATION_GRACE_MAX_SECONDS = 30 * 86400
IMPORTED_KEY_NAME = "imported"


def api_key_hash(raw_key: str) -> str:
    return secret_digest(raw_key)


def api_key_cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str


def user_get_or_create(*, email: str, name: str = "") -> tuple[User, bool]:
    """The user with this email (compared stripped and lower-cased), created if new."""
    normalised = email_normalise(email)
    user = User.objects.filter(email__iexact=normalised).first()
    if user:
        return user, False
    try:
        with transaction.atomic():
            return User.objects.create_user(normalised, name=name), True
    except IntegrityError:
        # Someone created the same user between our read and our insert: theirs is ours.
        user = User.objects.filter(email__iexact=normalised).first()
        if user is None:
            raise
        return user, False


# Profile fields a client may set on a user (upsert and PATCH); everything else is ours.
USER_PROFILE_FIELDS = ("name", "locale", "currency", "meta")


def user_update(*, user: User, changes: dict) -> User:
    """Apply profile changes: absent fields are kept and `meta` is merged key by key (shallow),
    as the old service did. The row is locked while merging, so two concurrent updates of
    different meta keys both survive."""
    unknown = set(changes) - set(USER_PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    if not changes:
        return user
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        for name, value in changes.items():
            if name == "meta":
                value = {**(locked.meta or {}), **value}
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
    return locked


def user_upsert(*, email: str, changes: dict) -> tuple[User, bool]:
    """The user with this email (stripped, lower-cased) created with `changes`, or updated by
    them when it exists (see user_update). Two concurrent upserts of one email give one user."""
    user, created = user_get_or_create(email=email, name=changes.get("name", ""))
    rest = {k: v for k, v in changes.items() if not (created and k == "name")}
    return user_update(user=user, changes=rest), created


def referral_track(*, email: str, source: str = "direct", campaign: str = "", medium: str = "") -> Referral:
    """Record a referral; it is linked to the user when one has this email already."""
    normalised = email_normalise(email)
    user = User.objects.filter(email__iexact=normalised).only("pk").first()
    return Referral.objects.create(email=normalised, user=user, source=source or "direct", campaign=campaign,
                                   medium=medium)


def api_key_create(*, owner: User, name: str = "", livemode: bool = True, expires_at: datetime | None = None,
                   scopes: Iterable[str] | None = None, rotated_from: ApiKey | None = None,
                   actor: User | None = None, ip: str | None = None, details: dict | None = None) -> CreatedApiKey:
    """Make a key with 128 random bits; store only its hash. The raw key is returned once.
    The creation is audited (actor, ip, details such as {"via": "api"})."""
    raw = (ApiKey.LIVE_PREFIX if livemode else ApiKey.TEST_PREFIX) + secrets.token_hex(16)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            owner=owner, name=name, livemode=livemode, expires_at=expires_at,
            scopes=list(DEFAULT_SCOPES if scopes is None else scopes), rotated_from=rotated_from,
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
    api_key_cache_forget(api_key.key_hash)
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


def api_key_cache_forget(*key_hashes: str) -> None:
    """Drop cached key lookups, so a change to a key or its owner bites on the next request
    rather than up to KEY_CACHE_SECONDS later."""
    if key_hashes:
        cache.delete_many([api_key_cache_key(h) for h in key_hashes])


def api_key_looks_valid(raw_key: str) -> bool:
    """Cheap sanity check before any hashing or lookup: a plausible length, printable ASCII, no spaces."""
    return (KEY_MIN_LENGTH <= len(raw_key) <= KEY_MAX_LENGTH and raw_key.isascii() and raw_key.isprintable()
            and " " not in raw_key)


def api_key_authenticate(raw_key: str, *, ip: str | None = None) -> ApiKey | None:
    """The usable key for this raw value, or None. Hot path: cached, at most one query; a value
    that matches no key is remembered as a miss, so repeating it costs no query either.
    ip, when given, is recorded as the key's last_used_ip along with last_used_at."""
    if not api_key_looks_valid(raw_key):
        return None
    api_key = _api_key_lookup(api_key_hash(raw_key))
    if api_key is None:
        return None
    now = timezone.now()
    if not api_key.is_usable(now) or not api_key.owner.is_active:
        return None
    # Record use at most once a minute per key, not on every request. This process remembers
    # when it last asked, so the shared cache is consulted once a minute per key, not per request.
    # The IP written is the one of the request that writes, so it is at most a minute old when
    # written; a key that changes address within the minute shows the new one only at the next write.
    tick = time.monotonic()
    if tick - _last_used_asked.get(api_key.pk, float("-inf")) >= LAST_USED_WRITE_INTERVAL_SECONDS:
        _last_used_asked[api_key.pk] = tick
        if cache.add(f"apikey-used:{api_key.pk}", 1, LAST_USED_WRITE_INTERVAL_SECONDS):
            changes = {"last_used_at": now} if ip is None else {"last_used_at": now, "last_used_ip": ip}
            ApiKey.objects.filter(pk=api_key.pk).update(**changes)
    return api_key


# What the cache holds for a presented value that matches no key.
_MISS = "miss"
_last_used_asked: dict = {}


def _api_key_lookup(digest: str) -> ApiKey | None:
    """The key with this hash (usable or not) with its owner: from the cache, else one query. A
    hash that matches no key is remembered as a miss, so repeating it costs no query either."""
    cache_key = api_key_cache_key(digest)
    record = cache.get(cache_key)
    if record == _MISS:
        return None
    api_key = _key_from_record(record)
    if api_key is None:
        api_key = ApiKey.objects.select_related("owner").filter(key_hash=digest).first()
        if api_key is None:
            cache.set(cache_key, _MISS, KEY_CACHE_SECONDS)
            return None
        cache.set(cache_key, _key_record(api_key), KEY_CACHE_SECONDS)
    return api_key


def api_key_owner_tier(key_hash: str) -> str | None:
    """The tier of the owner of the key with this hash, for the per-key rate limit; None when no
    usable key has this hash (authentication then refuses it anyway).

    This is not authentication: it records no use. Each process remembers a key's tier for
    TIER_MEMO_SECONDS, so the rate limit adds no cache round trip to most requests; a tier change
    reaches the limit within that time."""
    tick = time.monotonic()
    memo = _tier_memo.get(key_hash)
    if memo is not None and tick - memo[1] < TIER_MEMO_SECONDS:
        return memo[0]
    api_key = _api_key_lookup(key_hash)
    usable = api_key is not None and api_key.is_usable() and api_key.owner.is_active
    tier = api_key.owner.tier if usable else None
    if len(_tier_memo) >= TIER_MEMO_MAX:
        _tier_memo.clear()  # many keys (or made-up ones) seen: start over rather than grow without end
    _tier_memo[key_hash] = (tier, tick)
    return tier


TIER_MEMO_SECONDS = 60
TIER_MEMO_MAX = 10_000
_tier_memo: dict[str, tuple[str | None, float]] = {}

# A cached key is a tuple of plain column values (the key's, then its owner's), not a pickled
# model: unpickling two model instances cost more than the cache round trip itself. The field
# names travel with it, so a process with another version of the models treats it as a miss.
_KEY_FIELDS = tuple(f.attname for f in ApiKey._meta.concrete_fields)
_OWNER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields)
_RECORD_LAYOUT = hashlib.sha256(repr((_KEY_FIELDS, _OWNER_FIELDS)).encode()).hexdigest()[:16]


def _key_record(api_key: ApiKey) -> tuple:
    owner = api_key.owner
    return (_RECORD_LAYOUT, tuple(getattr(api_key, name) for name in _KEY_FIELDS),
            tuple(getattr(owner, name) for name in _OWNER_FIELDS))


def _key_from_record(record) -> ApiKey | None:
    if not isinstance(record, tuple) or len(record) != 3 or record[0] != _RECORD_LAYOUT:
        return None
    api_key = ApiKey.from_db(DEFAULT_DB_ALIAS, _KEY_FIELDS, record[1])
    api_key.owner = User.from_db(DEFAULT_DB_ALIAS, _OWNER_FIELDS, record[2])
    return api_key


# --- monthly quotas -----------------------------------------------------------------------------

# How long a month's counter outlives the month, so a late reader still finds it.
USAGE_CACHE_GRACE_SECONDS = 7 * 24 * 3600
# Owner id -> the minute (epoch // 60) this process last persisted (or asked to persist) their count.
_usage_written: dict = {}


def api_usage_count(*, api_key: ApiKey, now: datetime | None = None) -> Usage:
    """Count one API call by this key against its owner's monthly quota (calendar month, UTC)
    and return the month's usage, this call included. Over quota, the call is not counted and
    AppError quota_exceeded (429, Retry-After until the month resets) is raised: the caller must
    not execute the request. The call that reaches the limit exactly is allowed.

    The count is one atomic increment in the shared cache (Redis: one round trip, shared by all
    processes). The month's row in ApiUsage is its durable copy: written when the counter is
    missing (this call is counted in the row and the counter starts from it) and otherwise at
    most once a minute per owner, so a cache restart loses at most the last minute's calls."""
    now = now or timezone.now()
    owner = api_key.owner
    month = month_of(now)
    reset_at = month_reset_at(month)
    cache_key = usage_cache_key(owner.pk, month)
    try:
        calls = cache.incr(cache_key)
    except ValueError:
        calls = _usage_seed(owner_id=owner.pk, month=month, cache_key=cache_key, now=now, reset_at=reset_at)
    limit = quota_limit(owner.tier)
    if limit is not None and calls > limit:
        # A refused call is not executed, so it is not counted either.
        with contextlib.suppress(ValueError):
            cache.decr(cache_key)
        raise _quota_exceeded(tier=owner.tier, limit=limit, reset_at=reset_at, now=now)
    minute = int(now.timestamp() // 60)
    if _usage_written.get(owner.pk) != minute:
        _usage_written[owner.pk] = minute
        # One process per owner and minute writes; the others only asked the cache.
        if cache.add(f"usage-written:{owner.pk}:{minute}", 1, 120):
            _usage_persist(owner_id=owner.pk, month=month, calls=calls)
    return Usage(tier=owner.tier, calls_used=calls, calls_limit=limit, reset_at=reset_at)


def _quota_exceeded(*, tier: str, limit: int, reset_at: datetime, now: datetime) -> AppError:
    retry_after = max(1, math.ceil((reset_at - now).total_seconds()))
    return AppError(ErrorCode.QUOTA_EXCEEDED,
                    f"This account's {tier} tier allows {limit:,} API calls a month, all used. "
                    f"The quota resets at {reset_at:%Y-%m-%dT%H:%M:%SZ}.", retry_after=retry_after,
                    details={"reset_at": reset_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "calls_limit": limit, "tier": tier},
                    legacy_fields={"reset_at": reset_at.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _usage_seed(*, owner_id, month: date, cache_key: str, now: datetime, reset_at: datetime) -> int:
    """The month's counter is not in the cache (the owner's first call of the month here, or the
    cache restarted or evicted it): count this call in the month's row and start the counter
    from the row. Returns the month's calls, this one included."""
    calls = _usage_row_add_one(owner_id=owner_id, month=month)
    _usage_written[owner_id] = int(now.timestamp() // 60)  # just written: no second write this minute
    timeout = int((reset_at - now).total_seconds()) + USAGE_CACHE_GRACE_SECONDS
    if not cache.add(cache_key, calls, timeout):
        # Another process seeded it first: count on from its value. (Its seed may already hold
        # this call, so a seeding race can count one call twice; never fewer.)
        calls = cache.incr(cache_key)
    # A new month: last month's final minute may not have been persisted yet.
    previous = month_before(month)
    previous_calls = cache.get(usage_cache_key(owner_id, previous))
    if previous_calls is not None:
        _usage_persist(owner_id=owner_id, month=previous, calls=previous_calls)
    return calls


def _usage_row_add_one(*, owner_id, month: date) -> int:
    """One call more in the month's row (created at 1), in one statement. Returns the new count."""
    table = connection.ops.quote_name(ApiUsage._meta.db_table)
    params = [ApiUsage._meta.get_field("owner").get_db_prep_value(owner_id, connection),
              ApiUsage._meta.get_field("month").get_db_prep_value(month, connection)]
    # The table name comes from our model; every value is a parameter.
    sql = (f"INSERT INTO {table} (owner_id, month, calls) VALUES (%s, %s, 1) "  # noqa: S608
           f"ON CONFLICT (owner_id, month) DO UPDATE SET calls = {table}.calls + 1 RETURNING calls")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _usage_persist(*, owner_id, month: date, calls: int) -> None:
    # GREATEST: a slower process must not write back an older, lower count.
    ApiUsage.objects.filter(owner_id=owner_id, month=month).update(calls=Greatest(F("calls"), calls))


def demo_user_ensure(*, email: str) -> CreatedApiKey | None:
    """On a first embedded run: a demo user with a test key. None when the user already exists."""
    user, created = user_get_or_create(email=email, name="Demo user")
    if not created:
        return None
    return api_key_create(owner=user, name="demo", livemode=False)


def user_anonymise(*, user: User, actor: User | None = None, ip: str | None = None) -> User:
    """Erase a user's personal data but keep the row (jobs and audit rows point at it): the email
    becomes deleted-<uuid>@invalid, name and meta are cleared, the password made unusable (which
    also ends every session of theirs) and the account deactivated; their usable API keys are
    revoked and their referrals lose the address. Idempotent."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.email = f"deleted-{uuid.uuid4()}@invalid"
        locked.name = ""
        locked.meta = {}
        locked.is_active = False
        locked.set_unusable_password()
        locked.webhook_secret = webhook_secret_generate()
        locked.save(update_fields=["email", "name", "meta", "is_active", "password", "webhook_secret", "updated_at"])
        Referral.objects.filter(user=locked).update(email=locked.email)
        for api_key in ApiKey.objects.filter(owner=locked, revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=actor, ip=ip, details={"via": "account_erasure"})
    return locked
