"""What counting a request into its rate limits costs on Redis: the plain cache path (Django's
cache.add then cache.incr per counter, up to two round trips each, what any non-Redis cache gets)
against levqor.counters' one pipeline for all counters.

    REDIS_URL=redis://127.0.0.1:6379/15 DJANGO_SETTINGS_MODULE=levqor.settings .venv/bin/python bench/ratelimit_cost.py
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levqor.settings")
os.environ.setdefault("CACHE_KEY_PREFIX", f"bench-rl-{os.getpid()}")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import caches  # noqa: E402

from levqor import counters as hit_counters  # noqa: E402

N = 2000


def main():
    cache = caches[settings.RATELIMIT_USE_CACHE]
    if not hit_counters._is_redis(cache):
        sys.exit("set REDIS_URL: this measures Redis round trips")
    counters = [hit_counters.Counter(group, value, 10**9, 60) for group, value in [
        ("api-global", "all"), ("api-writes-ip", "198.51.100.1"), ("api-key-pro", "f" * 64)]]
    ends = [hit_counters._window_end(c, hit_counters._now()) for c in counters]
    for name, fn in [("cache add + incr", lambda: hit_counters._count_in_cache(cache, counters, ends)),
                     ("one pipeline", lambda: hit_counters._count_on_redis(cache, counters, ends)),
                     ("count_hits (all of it)", lambda: hit_counters.count_hits(counters))]:
        fn()
        start = time.perf_counter()
        for _ in range(N):
            fn()
        print(f"{name:>22}: {(time.perf_counter() - start) / N * 1e6:7.1f} us per request ({len(counters)} counters)")


if __name__ == "__main__":
    main()
