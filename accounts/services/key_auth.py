"""Authenticating an API key: the hot path of every API request. api_key_authenticate_request
is the one check of a request's key, whichever way the request is served (DRF's authentication
class, the intake fast path). reset() forgets what this process remembers.

A key's lookup is kept at two levels: in the shared cache (as plain column values) and, for
LOCAL_KEY_SECONDS, in this process. Both are stamped with the keys' *generation*, a number in the
shared cache that every change to a key or its owner replaces (api_key_cache_forget: revocation,
rotation, expiry, an owner's tier or status), and a lookup is used only while the generation it
was made under is still the current one. Each request reads the generation afresh, at no cost of
its own on Redis: the rate limiter's round trip carries it (levqor.counters.request_trip), along
with the monthly quota's hit (api_key_trip_extras_for); without that trip (no limit applies, or
RATELIMIT_ENABLED is off), one GET reads it. So a revoked key is refused by the next request, in every process, and an intake
makes one round trip for its key, limits and quota, where it made four.

The key's last use is written at most once a minute, and its owner's tier is remembered per
process for the rate limit's bucket."""

import hashlib
import secrets
import threading
import time

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models.base import ModelState
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.quotas import month_of, quota_limit, usage_cache_key
from accounts.services import usage
from levqor.counters import HardLimit, Trip, request_trip, trip_add_taken
from levqor.errors import AppError, ErrorCode
from levqor.tokens import secret_digest

KEY_CACHE_SECONDS = 60
# How long this process uses its own copy of a key's lookup (always checked against the current
# generation first; this bounds what a change made behind the services' back, which forgets nothing,
# takes to show).
LOCAL_KEY_SECONDS = 10
LOCAL_KEY_MAX = 10_000
# The shared cache entry holding the keys' generation (an integer; any change replaces it).
GENERATION_KEY = "apikey-generation"
LAST_USED_WRITE_INTERVAL_SECONDS = 60
# What a presented key must look like before we hash it and ask the cache: our lvk_ keys and the
# keys imported from the old service's env lists (any printable ASCII, no spaces), within sane lengths.
KEY_MIN_LENGTH = 16
KEY_MAX_LENGTH = 100
TIER_MEMO_SECONDS = 60
TIER_MEMO_MAX = 10_000

# What the cache holds for a presented value that matches no key.
_MISS = "miss"
# Key id -> when (time.monotonic) this process last asked the shared cache whether to record its use.
_last_used_asked: dict = {}
# Key hash -> (owner's tier or None, when it was looked up), for the per-key rate limit.
_tier_memo: dict[str, tuple[str | None, float]] = {}
# Key hash -> (the key with its owner, or None for no such key; the generation it was looked up
# under; when, time.monotonic). Read-only once stored: a request gets a copy (_key_copy).
_local_keys: dict[str, tuple[ApiKey | None, int, float]] = {}
_local_lock = threading.Lock()


def reset() -> None:
    """Forget everything this process remembers about keys and their use (last-use asks, tiers,
    looked-up keys, the quota count's write memo), as a fresh process would. For tests; the shared
    cache is the cache's own business."""
    _last_used_asked.clear()
    _tier_memo.clear()
    _local_keys.clear()
    usage.reset()


class ApiKeyInvalid(AppError):
    """401 invalid_api_key: the key presented matches no key, or one revoked or expired, or one
    whose owner is deactivated. Its own class so DRF's authentication class can hand it to DRF as
    DRF's AuthenticationFailed."""

    def __init__(self):
        super().__init__(ErrorCode.INVALID_API_KEY, "The API key is not valid, or was revoked or expired.")


def insufficient_scope(scope: str | None, api_key: ApiKey) -> AppError:
    message = (f"This API key lacks the {scope} scope this request needs." if scope else
               "This endpoint declares no scope, so no API key may use it.")
    return AppError(ErrorCode.INSUFFICIENT_SCOPE, message,
                    details={"required_scope": scope, "key_scopes": list(api_key.scopes)})


def api_key_scope_check(api_key: ApiKey, scope: str | None) -> None:
    """Raise 403 insufficient_scope unless the key holds the scope a request needs: "" needs
    none beyond a valid key; None means the endpoint declares none, so no key may use it (fail
    closed; see accounts.permissions.scope_required)."""
    if scope is None or (scope and scope not in api_key.scopes):
        raise insufficient_scope(scope, api_key)


def api_key_authenticate_request(raw_key: str, *, ip: str | None, scope: str | None, counted: bool) -> ApiKey:
    """Check the API key a request presents (raw_key, as sent) and return it: the usable key, its
    use recorded from ip (see api_key_authenticate); when counted, the call counted against the
    owner's monthly quota (usage.api_usage_count); and the scope the request needs (see
    api_key_scope_check). The one check of a request's key, so every request path refuses alike:

    - ApiKeyInvalid, 401 invalid_api_key, for a key that is not valid, revoked or expired;
    - AppError 429 quota_exceeded when the month's calls are used up (the call is not counted);
    - AppError 403 insufficient_scope when the key lacks the scope (the call still counts: every
      API call by a valid key counts, whatever its answer).

    On Redis this costs no round trip of its own when the rate limiter's trip carried the
    generation and the quota's hit (levqor.counters.request_trip: the usual intake)."""
    api_key = api_key_authenticate(raw_key, ip=ip, trip=request_trip())
    if api_key is None:
        raise ApiKeyInvalid()  # a quota hit the trip counted for it is taken back by the rate limiter
    if counted:
        usage.api_usage_count(api_key=api_key)
    api_key_scope_check(api_key, scope)
    return api_key


def api_key_trip_extras_for(key_hash: str, *, count: bool) -> tuple[tuple[str, ...], HardLimit | None, tuple]:
    """What a request presenting the key with this hash wants in its counters' round trip: the
    keys' generation, and (count: the request is one the quota counts) the hit of its owner's
    monthly quota, guarded by the generation this process's copy of the key was made under, so a
    key changed meanwhile is not counted by a stale idea of whose it is. No hit when this process
    does not know the key, or knows it unusable (authentication then decides, as without the trip).
    Adds: the once-a-minute markers this request would otherwise set with a round trip of its own
    (the key's last use; the quota count's durable write, usage.usage_written_marker), when due."""
    entry = _local_keys.get(key_hash)
    if entry is None or entry[0] is None:
        return (GENERATION_KEY,), None, ()
    api_key, generation = entry[0], entry[1]
    owner = api_key.owner
    if not api_key.is_usable() or not owner.is_active:
        return (GENERATION_KEY,), None, ()
    adds = []
    if time.monotonic() - _last_used_asked.get(api_key.pk, float("-inf")) >= LAST_USED_WRITE_INTERVAL_SECONDS:
        adds.append((_last_used_marker(api_key.pk), LAST_USED_WRITE_INTERVAL_SECONDS))
    if not count:
        return (GENERATION_KEY,), None, tuple(adds)
    now = timezone.now()
    marker = usage.usage_written_marker(owner.pk, now)
    if marker is not None:
        adds.append(marker)
    hard = HardLimit(usage_cache_key(owner.pk, month_of(now)), quota_limit(owner.tier), GENERATION_KEY, generation)
    return (GENERATION_KEY,), hard, tuple(adds)


def _last_used_marker(key_id) -> str:
    return f"apikey-used:{key_id}"


def api_key_hash(raw_key: str) -> str:
    return secret_digest(raw_key)


def api_key_cache_key(key_hash: str) -> str:
    return f"apikey:{key_hash}"


def api_key_cache_forget(*key_hashes: str) -> None:
    """Drop cached key lookups, so a change to a key or its owner bites on the next request, in
    every process, rather than up to KEY_CACHE_SECONDS later: the shared entries go, and the keys'
    generation is replaced, which every process's own copies (and any shared entry written from a
    read made before the change) were stamped with.

    Inside a transaction it forgets again once the change is committed: until then another process
    still reads the old row, and would cache it under the new generation."""
    _forget(key_hashes)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: _forget(key_hashes))


def _forget(key_hashes) -> None:
    cache.set(GENERATION_KEY, _generation_new(), None)
    _local_keys.clear()
    if key_hashes:
        cache.delete_many([api_key_cache_key(h) for h in key_hashes])


def _generation_new() -> int:
    return secrets.randbits(62)


def _generation(trip: Trip | None) -> int:
    """The keys' current generation: as this request's round trip read it, else read now. A cache
    without one (new, restarted, flushed) gets a fresh one, so nothing stamped before counts."""
    generation = trip.reads.get(GENERATION_KEY) if trip is not None else None
    if generation is None:
        generation = cache.get(GENERATION_KEY)
    if not isinstance(generation, int) or isinstance(generation, bool):
        fresh = _generation_new()
        generation = fresh if cache.add(GENERATION_KEY, fresh, None) else cache.get(GENERATION_KEY)
        if not isinstance(generation, int):
            generation = fresh
    return generation


def api_key_looks_valid(raw_key: str) -> bool:
    """Cheap sanity check before any hashing or lookup: a plausible length, printable ASCII, no spaces."""
    return (KEY_MIN_LENGTH <= len(raw_key) <= KEY_MAX_LENGTH and raw_key.isascii() and raw_key.isprintable()
            and " " not in raw_key)


def api_key_authenticate(raw_key: str, *, ip: str | None = None, trip: Trip | None = None) -> ApiKey | None:
    """The usable key for this raw value, or None. Hot path: no query and, given the request's trip
    (which read the keys' generation), no round trip while this process's copy is current; else
    the shared cache, else one query. A value that matches no key is remembered as a miss, so
    repeating it costs no query either. ip, when given, is recorded as the key's last_used_ip along
    with last_used_at."""
    if not api_key_looks_valid(raw_key):
        return None
    api_key = _api_key_current(api_key_hash(raw_key), trip)
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
        marker = _last_used_marker(api_key.pk)
        added = trip_add_taken(trip, marker)  # the request's round trip may have asked already
        if added is None:
            added = cache.add(marker, 1, LAST_USED_WRITE_INTERVAL_SECONDS)
        if added:
            changes = {"last_used_at": now} if ip is None else {"last_used_at": now, "last_used_ip": ip}
            ApiKey.objects.filter(pk=api_key.pk).update(**changes)
    return api_key


def _api_key_current(digest: str, trip: Trip | None) -> ApiKey | None:
    """The key with this hash (usable or not) with its owner, as of the current generation: this
    process's copy while it is of this generation and young enough, else the shared cache's (also
    of this generation), else one query. Each caller gets its own copy of the instances."""
    generation = _generation(trip)
    tick = time.monotonic()
    entry = _local_keys.get(digest)
    if entry is not None and entry[1] == generation and tick - entry[2] < LOCAL_KEY_SECONDS:
        return _key_copy(entry[0])
    api_key = _api_key_lookup(digest, generation)
    with _local_lock:
        if len(_local_keys) >= LOCAL_KEY_MAX:
            _local_keys.clear()  # many keys (or made-up ones) seen: start over rather than grow without end
        _local_keys[digest] = (api_key, generation, tick)
    return _key_copy(api_key)


def _key_copy(api_key: ApiKey | None) -> ApiKey | None:
    """A request's own instances of a remembered key and owner (a view may set attributes on them),
    made by copying their attributes: a fraction of building them from their column values."""
    if api_key is None:
        return None
    copy = _instance_copy(api_key)
    copy.scopes = list(api_key.scopes)
    copy.owner = _instance_copy(api_key.owner)
    return copy


def _instance_copy(instance):
    copy = instance.__class__.__new__(instance.__class__)
    copy.__dict__.update({name: value for name, value in instance.__dict__.items() if name != "_state"})
    copy._state = ModelState()
    copy._state.adding, copy._state.db = False, instance._state.db
    return copy


def _api_key_lookup(digest: str, generation: int) -> ApiKey | None:
    """The key with this hash (usable or not) with its owner: from the shared cache when its entry
    is of this generation, else one query. A hash that matches no key is remembered as a miss, so
    repeating it costs no query either."""
    cache_key = api_key_cache_key(digest)
    record = cache.get(cache_key)
    if record == (_MISS, generation):
        return None
    api_key = _key_from_record(record, generation)
    if api_key is None:
        api_key = ApiKey.objects.select_related("owner").filter(key_hash=digest).first()
        if api_key is None:
            cache.set(cache_key, (_MISS, generation), KEY_CACHE_SECONDS)
            return None
        cache.set(cache_key, _key_record(api_key, generation), KEY_CACHE_SECONDS)
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
    api_key = _api_key_current(key_hash, None)
    usable = api_key is not None and api_key.is_usable() and api_key.owner.is_active
    tier = api_key.owner.tier if usable else None
    if len(_tier_memo) >= TIER_MEMO_MAX:
        _tier_memo.clear()  # many keys (or made-up ones) seen: start over rather than grow without end
    _tier_memo[key_hash] = (tier, tick)
    return tier


# A cached key is a tuple of plain column values (the key's, then its owner's), not a pickled
# model: unpickling two model instances cost more than the cache round trip itself. The field
# names travel with it, so a process with another version of the models treats it as a miss.
_KEY_FIELDS = tuple(f.attname for f in ApiKey._meta.concrete_fields)
_OWNER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields)
_RECORD_LAYOUT = hashlib.sha256(repr((_KEY_FIELDS, _OWNER_FIELDS)).encode()).hexdigest()[:16]


def _key_record(api_key: ApiKey, generation: int) -> tuple:
    owner = api_key.owner
    return (_RECORD_LAYOUT, generation, tuple(getattr(api_key, name) for name in _KEY_FIELDS),
            tuple(getattr(owner, name) for name in _OWNER_FIELDS))


def _key_from_record(record, generation: int) -> ApiKey | None:
    """The key of a cached record made under this generation (None for any other: a record read
    from the database before a change, written after it, must not outlive the change)."""
    if (not isinstance(record, tuple) or len(record) != 4 or record[0] != _RECORD_LAYOUT
            or record[1] != generation):
        return None
    api_key = ApiKey.from_db(DEFAULT_DB_ALIAS, _KEY_FIELDS, record[2])
    api_key.owner = User.from_db(DEFAULT_DB_ALIAS, _OWNER_FIELDS, record[3])
    return api_key


# What a cached key carries of its owner that decides what the key may do: a change to any of these
# must bite on the next request, however it was made (admin, shell, a service).
_OWNER_FIELDS_THAT_AUTHORISE = {"is_active", "is_staff", "is_superuser", "tier"}


def owner_saved_forget_keys(sender, instance, created=False, update_fields=None, **kwargs) -> None:
    """post_save receiver of the User model (connected in AccountsConfig.ready()): drop the cached
    lookups of the user's keys, so e.g. a key with admin:read stops acting as an operator's the
    moment its owner is no longer staff, not when the cache expires."""
    if created or (update_fields is not None and not _OWNER_FIELDS_THAT_AUTHORISE & set(update_fields)):
        return  # e.g. a sign-in's last_login: nothing a key may do changed
    api_key_cache_forget(*ApiKey.objects.filter(owner=instance).values_list("key_hash", flat=True))


def api_key_deleted_forget(sender, instance, **kwargs) -> None:
    """post_delete receiver of ApiKey (its owner's deletion cascades to it, one signal per key): a
    deleted key is refused on the next request in every process, like a revoked one."""
    api_key_cache_forget(instance.key_hash)

