"""Writes on users and API keys."""

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, User, email_normalise

KEY_CACHE_SECONDS = 60
LAST_USED_WRITE_INTERVAL_SECONDS = 60


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


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


def api_key_create(*, owner: User, name: str = "", livemode: bool = True,
                   expires_at: datetime | None = None) -> CreatedApiKey:
    """Make a key with 128 random bits; store only its hash. The raw key is returned once."""
    raw = (ApiKey.LIVE_PREFIX if livemode else ApiKey.TEST_PREFIX) + secrets.token_hex(16)
    api_key = ApiKey.objects.create(
        owner=owner, name=name, livemode=livemode, expires_at=expires_at,
        prefix=raw[: len(ApiKey.LIVE_PREFIX) + 4], key_hash=api_key_hash(raw),
    )
    return CreatedApiKey(api_key=api_key, raw_key=raw)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke at once: the row is marked and the cached lookup dropped."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    api_key_cache_forget(api_key.key_hash)
    return api_key


def api_key_cache_forget(*key_hashes: str) -> None:
    """Drop cached key lookups, so a change to a key or its owner bites on the next request
    rather than up to KEY_CACHE_SECONDS later."""
    if key_hashes:
        cache.delete_many([api_key_cache_key(h) for h in key_hashes])


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The usable key for this raw value, or None. Hot path: cached, at most one query."""
    if not raw_key.startswith((ApiKey.LIVE_PREFIX, ApiKey.TEST_PREFIX)) or len(raw_key) > 100:
        return None
    api_key = _api_key_lookup(api_key_hash(raw_key))
    if api_key is None:
        return None
    now = timezone.now()
    if not api_key.is_usable(now) or not api_key.owner.is_active:
        return None
    # Record use at most once a minute per key, not on every request. This process remembers
    # when it last asked, so the shared cache is consulted once a minute per key, not per request.
    tick = time.monotonic()
    if tick - _last_used_asked.get(api_key.pk, float("-inf")) >= LAST_USED_WRITE_INTERVAL_SECONDS:
        _last_used_asked[api_key.pk] = tick
        if cache.add(f"apikey-used:{api_key.pk}", 1, LAST_USED_WRITE_INTERVAL_SECONDS):
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    return api_key


_last_used_asked: dict = {}


def _api_key_lookup(digest: str) -> ApiKey | None:
    """The key with this hash (usable or not) with its owner: from the cache, else one query."""
    cache_key = api_key_cache_key(digest)
    api_key = _key_from_record(cache.get(cache_key))
    if api_key is None:
        api_key = ApiKey.objects.select_related("owner").filter(key_hash=digest).first()
        if api_key is None:
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


def demo_user_ensure(*, email: str) -> CreatedApiKey | None:
    """On a first embedded run: a demo user with a test key. None when the user already exists."""
    user, created = user_get_or_create(email=email, name="Demo user")
    if not created:
        return None
    return api_key_create(owner=user, name="demo", livemode=False)
