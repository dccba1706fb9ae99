"""What the PostgreSQL backends of the bench database are doing during a window: sampled from
pg_stat_activity every 20 ms on a connection of its own. Shows lock waits (e.g. every intake of
one owner queueing on the same daily-spend row), WAL flushes (commit fsync) and idle-in-transaction."""

import threading
import time
from collections import Counter

QUERY = """
SELECT state, coalesce(wait_event_type, ''), coalesce(wait_event, '')
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""


class PgWaitSampler:
    def __init__(self, dsn: str, interval: float = 0.02):
        self.dsn = dsn
        self.interval = interval
        self.samples = 0
        self.counts: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-wait-sampler", daemon=True)
        self.error = None

    def _run(self):
        import psycopg

        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                while not self._stop.is_set():
                    for state, wait_type, wait_event in conn.execute(QUERY).fetchall():
                        if state == "active":
                            key = f"{wait_type}:{wait_event}" if wait_type else "active (on CPU)"
                        elif state == "idle in transaction":
                            key = "idle in transaction"
                        else:
                            continue
                        self.counts[key] += 1
                    self.samples += 1
                    time.sleep(self.interval)
        except Exception as exc:  # the sampler must never break a measurement
            self.error = f"{type(exc).__name__}: {exc}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)

    def result(self) -> dict:
        """Average number of backends in each state per sample (1.0 = one backend all the time)."""
        if not self.samples:
            return {"samples": 0, "error": self.error}
        waits = {k: round(v / self.samples, 2) for k, v in self.counts.most_common(8)}
        return {"samples": self.samples, "backends": waits, "error": self.error}


def render(result: dict | None) -> str:
    if not result or not result.get("samples"):
        return ""
    return "PG backends (avg per sample): " + ", ".join(f"{k} {v:.2f}" for k, v in result["backends"].items())
