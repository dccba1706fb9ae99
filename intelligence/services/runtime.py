"""Runtime settings: knobs kept in the database, changed by operators (admin), auto-tune or
incident recovery, every change audited, and read on hot paths from the cache.

A read costs no query once cached: each process remembers a value for PROCESS_MEMO_SECONDS,
backed by the shared cache (Redis: every process), which a change clears, so every process sees
a change within PROCESS_MEMO_SECONDS. Without Redis each process's cache is its own, so there the
value is read from the database again once per PROCESS_MEMO_SECONDS."""

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from intelligence.models import RuntimeSetting, RuntimeSettingChange

# name -> (default, type): what a setting is when nobody has set it.
RUNTIME_DEFAULTS: dict[str, tuple[object, type]] = {
    "queue_max": (5000, int),  # due, queued jobs beyond which intake answers 503 queue_full
    "p95_target": (150, int),  # ms: the request p95 the service aims for (auto-tune suggests it)
    "pause_low_priority": (False, bool),  # workers leave low-priority jobs waiting (incident recovery)
}
PROCESS_MEMO_SECONDS = 1.0
_memo: dict[str, tuple[float, object]] = {}
# The settings read on the intake's path (backpressure's queue_max): on Redis their memo is renewed
# by a GET riding in the rate limiter's round trip (levqor.counters' pipeline riders) once it is
# older than this, so the read after it in the same request finds it fresh and sends nothing.
RIDING_SETTINGS = ("queue_max",)
RIDE_AFTER_SECONDS = PROCESS_MEMO_SECONDS / 2


def _cache_key(name: str) -> str:
    return f"runtime-setting:{name}"


def runtime_setting_get(name: str):
    """The setting's value (its default until someone sets it)."""
    default, kind = RUNTIME_DEFAULTS[name]
    now = time.monotonic()
    memo = _memo.get(name)
    if memo is not None and now - memo[0] < PROCESS_MEMO_SECONDS:
        return memo[1]
    cached = cache.get(_cache_key(name))
    if cached is None:
        row = RuntimeSetting.objects.filter(name=name).values_list("value", flat=True).first()
        cached = {"v": kind(row) if row is not None else default}
        # A process-local cache (no Redis: web and worker are separate processes) is not cleared by
        # another process's change, so its entry must expire as the memo does.
        cache.set(_cache_key(name), cached, None if settings.REDIS_URL else PROCESS_MEMO_SECONDS)
    _memo[name] = (now, cached["v"])
    return cached["v"]


def pipeline_rider(pipe):
    """Joins the counters' Redis pipeline (levqor.counters.pipeline_rider_register): a GET of each
    riding setting whose memo is about to run out; its reply renews the memo as of the moment the
    GET was sent, so a value is never older than PROCESS_MEMO_SECONDS, as when read on its own. An
    absent entry (just changed: a change clears it) renews nothing: the next read goes to the database."""
    now = time.monotonic()
    due = [name for name in RIDING_SETTINGS
           if (memo := _memo.get(name)) is None or now - memo[0] >= RIDE_AFTER_SECONDS]
    if not due or not _rides_with_default_cache():
        return None
    for name in due:
        pipe.get(cache.make_key(_cache_key(name)))

    def done(ok: bool, replies) -> None:
        if not ok:
            return
        for name, raw in zip(due, replies, strict=True):
            if raw is None:
                continue
            value = cache.client.decode(raw)
            if isinstance(value, dict) and "v" in value:
                memo = _memo.get(name)
                if memo is None or memo[0] < now:  # never over a newer read
                    _memo[name] = (now, value["v"])

    done.wants_replies = True
    return done


def _rides_with_default_cache() -> bool:
    """The counters' pipeline talks to the cache these settings live in (Redis, the default cache)."""
    return bool(settings.REDIS_URL) and settings.RATELIMIT_USE_CACHE == "default" and hasattr(cache, "client") \
        and hasattr(cache.client, "decode")


def runtime_setting_set(name: str, value, *, actor=None, source: str, reason: str) -> RuntimeSettingChange | None:
    """Change a setting, audited (who or what, old -> new, why); None when it already had this value."""
    default, kind = RUNTIME_DEFAULTS[name]
    if not reason.strip():
        raise ValueError("A reason is required to change a runtime setting.")
    value = kind(value)
    now = timezone.now()
    with transaction.atomic():
        row = RuntimeSetting.objects.select_for_update().filter(name=name).first()
        old = kind(row.value) if row is not None else default
        if row is not None and old == value:
            return None
        RuntimeSetting.objects.update_or_create(name=name, defaults={"value": value, "updated_at": now,
                                                                     "updated_by": actor})
        change = RuntimeSettingChange.objects.create(name=name, at=now, old_value=old, new_value=value, actor=actor,
                                                     source=source, reason=reason)
        transaction.on_commit(lambda: cache.delete(_cache_key(name)))
    _memo.pop(name, None)
    return change


def reset() -> None:
    """Forget this process's memo (tests; a fresh process)."""
    _memo.clear()
