"""Who used the CPU during a measurement window, in core-seconds per second (2.0 = both cores).

The box is shared (other engineers run test suites on it), so every figure comes with its
"other" share: CPU used by live processes that are neither ours nor the stores nor kernel
threads. A window with a large "other" is noise, not a result. "unattributed" is busy time no
process accounts for (interrupts, the last 0.25 s of processes that exited during the window).

Sources: /proc/stat (the whole machine), /proc/<pid>/stat (processes alive at the end of the
window, grouped by our process groups or by name) and getrusage(RUSAGE_CHILDREN) for the load
generator, which is our direct child and is reaped inside the window.
"""

import os
import resource
import threading
import time
from contextlib import contextmanager

TICK = os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def postgres_database(title: str) -> str | None:
    """The database a PostgreSQL process serves, from its process title ("postgres: [cluster:] user db
    host(port) state", or "... autovacuum worker db"); "" for the server's own processes (postmaster,
    checkpointer, WAL writer, ...), which serve every database; None when title is not PostgreSQL's."""
    title = title.strip()
    if not title.startswith("postgres: "):
        return "" if "postgres" in title.split(" ", 1)[0] else None
    words = title[len("postgres: "):].split()
    if words and words[0].endswith(":"):  # the cluster name (Debian: "15/main:")
        words = words[1:]
    if len(words) >= 3 and words[:2] == ["autovacuum", "worker"]:
        return words[2]
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1]
    return ""


def _title(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _processes() -> dict[int, tuple[int, str, int, int]]:
    """pid -> (pgid, name, utime+stime ticks, start time in ticks since boot: a reused pid has another).
    A PostgreSQL process's name carries the database it serves ("postgres/<db>", "postgres/" for the
    server's own processes): the box's one PostgreSQL serves other people's databases too, and their
    load is not ours."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                raw = fh.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1: raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2:].split()
        # rest[0] is field 3 (state): pgid is field 5, utime 14, stime 15
        if name.startswith("postgres"):
            database = postgres_database(_title(entry))
            name = f"postgres/{database or ''}"
        out[int(entry)] = (int(rest[2]), name, int(rest[11]) + int(rest[12]), int(rest[19]))
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """groups: pgid -> label for our own process groups (gunicorn, qcluster). pg_database: the bench's
    PostgreSQL database: its backends are "postgres", other databases' backends "other", the server's
    own processes "postgres (server)" (shared by every database: shown, not counted as ours). redis_ours:
    whether the box's Redis serves the bench (PostgreSQL + Redis run) or only others (SQLite run: "other")."""

    SAMPLE_SECONDS = 0.25

    def __init__(self, *, pg_database: str | None = None, redis_ours: bool = True):
        self.groups: dict[int, str] = {}
        self.pg_database = pg_database
        self.redis_ours = redis_ours

    def label(self, pid: int, pgid: int, name: str) -> str:
        if pid == os.getpid():
            return "bench driver"
        if pgid in self.groups:
            return self.groups[pgid]
        if name.startswith("postgres"):
            database = name.partition("/")[2]
            if not database:
                return "postgres (server)"
            return "postgres" if database == self.pg_database else "other"
        if name.startswith("redis"):
            return "redis" if self.redis_ours else "other"
        if pgid == 0:
            return "kernel threads"  # e.g. the ext4 journal and writeback threads that SQLite's fsyncs wake
        return "other"

    def foreign_load(self, seconds: float = 1.0) -> float:
        """Cores used by processes that are not ours over the next seconds."""
        with self.window() as usage:
            time.sleep(seconds)
        return usage["other"]

    def wait_quiet(self, *, threshold: float, max_wait: float) -> dict:
        """Wait (bounded) until other processes use less than threshold cores; say how it went."""
        started = time.monotonic()
        foreign = self.foreign_load()
        while foreign >= threshold and time.monotonic() - started < max_wait:
            foreign = self.foreign_load()
        return {"waited_s": round(time.monotonic() - started, 1), "foreign_cores": foreign,
                "quiet": foreign < threshold}

    @contextmanager
    def window(self):
        """with meter.window() as usage: ... ; usage holds core-seconds per second by label."""
        usage: dict = {}
        busy0, _ = _machine_ticks()
        procs0 = _processes()
        children0 = _children_cpu()
        # Processes come and go inside a window (django-q2 recycles a worker every 500 tasks):
        # a sampler keeps the last figure of each, so an exited worker's CPU is not lost.
        seen: dict[int, tuple[int, str, int, int]] = dict(procs0)
        stop = threading.Event()

        def sample():
            while not stop.wait(self.SAMPLE_SECONDS):
                seen.update(_processes())

        sampler = threading.Thread(target=sample, name="cpu-sampler", daemon=True)
        sampler.start()
        started = time.monotonic()
        try:
            yield usage
        finally:
            elapsed = max(time.monotonic() - started, 1e-6)
            stop.set()
            sampler.join(5)
            busy1, _ = _machine_ticks()
            seen.update(_processes())
            by_label: dict[str, float] = {}
            for pid, (pgid, name, ticks, start) in seen.items():
                before = procs0.get(pid)
                # The same process (not a reused pid) by its start time: kernel threads change their
                # names (kworker/1:0H-kblockd), so a name is no proof and counted their whole life.
                delta = ticks - (before[2] if before and before[3] == start else 0)
                if delta > 0:
                    label = self.label(pid, pgid, name)
                    by_label[label] = by_label.get(label, 0.0) + delta / TICK
            wrk = max(_children_cpu() - children0, 0.0)
            if wrk:
                by_label["load generator"] = wrk
            machine = (busy1 - busy0) / TICK
            # Busy time no live process accounts for: interrupts, and processes that exited meanwhile.
            by_label["unattributed"] = max(machine - sum(by_label.values()), 0.0)
            by_label.setdefault("other", 0.0)
            usage.update({k: round(v / elapsed, 2) for k, v in sorted(by_label.items(), key=lambda kv: -kv[1])})
            usage["machine_busy"] = round(machine / elapsed, 2)
            usage["cores"] = os.cpu_count()


def server_cores(usage: dict | None, labels=("gunicorn", "qcluster", "postgres", "redis")) -> float | None:
    """Cores used by the serving side (our processes and the stores), without load generator or noise."""
    if not usage:
        return None
    return sum(usage.get(label, 0.0) for label in labels)


def render(usage: dict | None) -> str:
    if not usage:
        return ""
    parts = [f"{k} {v:.2f}" for k, v in usage.items() if k not in ("machine_busy", "cores") and v >= 0.01]
    return f"CPU cores busy {usage['machine_busy']:.2f}/{usage['cores']}: " + ", ".join(parts)
