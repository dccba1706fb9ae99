"""What counting a request into its rate limits costs on Redis: django_ratelimit's get_usage once
per counter (an add and an incr each, two round trips) against levqor.ratelimit's one pipeline.

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

from django.core.cache import caches  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from levqor import ratelimit  # noqa: E402

N = 2000


def main():
    cache = caches["default"]
    if not ratelimit._is_redis(cache):
        sys.exit("set REDIS_URL: this measures Redis round trips")
    request = RequestFactory().post("/api/v1/jobs", REMOTE_ADDR="198.51.100.1")
    counters = [ratelimit.Counter("api-global", "all", 10**9), ratelimit.Counter("api-writes-ip", "198.51.100.1", 10**9),
                ratelimit.Counter("api-key-pro", "f" * 64, 10**9)]
    for name, fn in [("get_usage per counter", lambda: ratelimit._count_with_get_usage(request, counters)),
                     ("one pipeline", lambda: ratelimit._count_on_redis(cache, counters))]:
        fn()
        start = time.perf_counter()
        for _ in range(N):
            fn()
        print(f"{name:>22}: {(time.perf_counter() - start) / N * 1e6:7.1f} us per request ({len(counters)} counters)")


if __name__ == "__main__":
    main()
