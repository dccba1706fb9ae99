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


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (pgid, name, utime+stime ticks)."""
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
        out[int(entry)] = (int(rest[2]), name, int(rest[11]) + int(rest[12]))
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class CpuMeter:
    """groups: pgid -> label for our own process groups (gunicorn, qcluster)."""

    SAMPLE_SECONDS = 0.25

    def __init__(self):
        self.groups: dict[int, str] = {}

    def label(self, pid: int, pgid: int, name: str) -> str:
        if pid == os.getpid():
            return "bench driver"
        if pgid in self.groups:
            return self.groups[pgid]
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("redis"):
            return "redis"
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
        seen: dict[int, tuple[int, str, int]] = dict(procs0)
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
            for pid, (pgid, name, ticks) in seen.items():
                before = procs0.get(pid)
                delta = ticks - (before[2] if before and before[1] == name else 0)
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
