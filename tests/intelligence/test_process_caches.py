"""Without Redis every process has its own local-memory cache, which another process's change never
clears (the admin runs in the web process, flags and knobs are read by the workers too): there
flags and switches live in a cache whose entries last 5 s, and runtime settings are read again
after their 1 s memo, so a change made elsewhere is seen within those bounds. With Redis, the
shared cache is cleared on change."""

import time

import pytest
from django.conf import settings
from django.core.cache import caches
from waffle.models import Switch

from intelligence.models import RuntimeSetting
from intelligence.services import runtime
from intelligence.services.automation import STABILIZE_SWITCH, stabilize_active

pytestmark = pytest.mark.django_db


@pytest.fixture
def wall_clock(monkeypatch):
    """time.time moved forward by the test (the local-memory cache's expiry reads it)."""
    offset = [0.0]
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])
    return offset


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="the process-local cache of the embedded mode")
def test_a_switch_changed_by_another_process_is_seen_within_5_seconds(wall_clock):
    assert settings.WAFFLE_CACHE_NAME == "flags" and caches["flags"].default_timeout == 5
    assert not stabilize_active()  # cached here: off
    # Another process turns it on: its commit clears its own cache, not this one.
    Switch.objects.filter(name=STABILIZE_SWITCH).update(active=True)
    assert not stabilize_active()
    wall_clock[0] += 5.1
    assert stabilize_active()


@pytest.mark.skipif(bool(settings.REDIS_URL), reason="the process-local cache of the embedded mode")
def test_a_runtime_setting_changed_by_another_process_is_seen_after_the_memo(wall_clock, monkeypatch):
    assert runtime.runtime_setting_get("queue_max") == 5000
    RuntimeSetting.objects.create(name="queue_max", value=40, updated_at="2026-01-01T00:00:00Z")  # elsewhere
    runtime.reset()  # this process's 1 s memo has passed
    assert runtime.runtime_setting_get("queue_max") == 5000  # the cache entry lasts as long as the memo
    wall_clock[0] += runtime.PROCESS_MEMO_SECONDS + 0.1
    runtime.reset()
    assert runtime.runtime_setting_get("queue_max") == 40
