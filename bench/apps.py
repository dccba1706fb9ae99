"""The bench's own app (bench/settings.py adds it): bench-only instruments, applied in every process
that loads the bench settings, when the bench's environment asks for them. They never change the
project's code or settings; without these variables the app does nothing.

- BENCH_REDIS_COUNTER_DIR: count this process's Redis round trips into that directory
  (bench.redis_count).
- BENCH_QUOTA_COUNT_OFF: the monthly quota's per-call count (accounts.services.usage.api_usage_count)
  is skipped: the call is answered as an unlimited quota would be, with nothing counted. An
  unlimited quota (API_QUOTA_<TIER>=unlimited) still counts every call in the product (usage is
  shown to the owner), so the layer-off state of the bench's layer-cost measurement needs this to
  leave the quota count out of the request.
"""

import os

from django.apps import AppConfig


def quota_count_off() -> bool:
    """Replace the quota count by one that counts nothing; False when the product has no such function."""
    from django.utils import timezone

    from accounts.quotas import Usage, month_of, month_reset_at
    from accounts.services import usage

    if not hasattr(usage, "api_usage_count"):
        return False

    def api_usage_count_off(*, api_key, now=None):
        month = month_of(now or timezone.now())
        return Usage(tier=api_key.owner.tier, calls_used=0, calls_limit=None, reset_at=month_reset_at(month))

    usage.api_usage_count = api_usage_count_off
    return True


class BenchConfig(AppConfig):
    name = "bench"
    label = "bench"
    verbose_name = "Levqor bench instruments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        directory = os.environ.get("BENCH_REDIS_COUNTER_DIR")
        if directory:
            from bench import redis_count

            redis_count.install(directory)
        if os.environ.get("BENCH_QUOTA_COUNT_OFF") and not quota_count_off():
            raise RuntimeError("BENCH_QUOTA_COUNT_OFF: accounts.services.usage.api_usage_count is gone; "
                               "update bench/apps.py to where the quota is counted now")
