"""Settings for the benchmark's gunicorn and qcluster: the real settings, plus the baseline URLs.

Everything else (database, cache, broker, DAILY_BUDGET, cluster name) comes from the
environment that bench/run.py sets, exactly as in production.
"""

import os

from levqor.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
# The bench's instruments (Redis round-trip counter, the layer-off quota switch): bench/apps.py.
INSTALLED_APPS = [*INSTALLED_APPS, "bench.apps.BenchConfig"]  # noqa: F405

# --- experiments: off unless `run.py --experiment NAME` asks; the report names any in force ----------
# They answer "what would this settings change buy?" with a measurement, without touching the
# project's settings. A run with experiments is not a measurement of the project as it is.
EXPERIMENTS = sorted({x.strip() for x in os.environ.get("BENCH_EXPERIMENTS", "").split(",") if x.strip()})
KNOWN_EXPERIMENTS = {
    "persistent_conn": "CONN_MAX_AGE=None: keep database connections (SQLite default is 0: one per request/task)",
    "no_health_checks": "CONN_HEALTH_CHECKS=False: no SELECT 1 before the first query of each request/task",
    "async_commit": "PostgreSQL synchronous_commit=off: commits do not wait for the WAL flush",
}
_unknown = set(EXPERIMENTS) - set(KNOWN_EXPERIMENTS)
if _unknown:
    raise ValueError(f"unknown BENCH_EXPERIMENTS {sorted(_unknown)}; known: {sorted(KNOWN_EXPERIMENTS)}")
if "persistent_conn" in EXPERIMENTS:
    DATABASES["default"]["CONN_MAX_AGE"] = None  # noqa: F405
if "no_health_checks" in EXPERIMENTS:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # noqa: F405
if "async_commit" in EXPERIMENTS and DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
