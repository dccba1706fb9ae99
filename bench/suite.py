"""One database's half of the benchmark, run by bench/run.py as `python -m bench.suite` in an
environment that already points at a fresh database (and Redis on the PostgreSQL run).

Phases, in this order (see bench/README.md for what each one means):
  intake     gunicorn alone (cluster stopped): bare view, minimal DRF, POST /api/v1/intake
  drain      5,000 raw django-q2 no-op tasks, then 5,000 demo.flow jobs, each queued with the
             cluster stopped, then `manage.py qcluster` started and the backlog timed
  pickup     an idle cluster; jobs submitted one at a time; enqueue -> running
  sustained  gunicorn under wrk and the cluster working, sharing the box
  profile    in-process intake vs the DRF baseline: queries, time per component, cProfile
"""

import argparse
import contextlib
import json
import os
import random
import signal
import statistics
import sys
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import django

from bench import cpu, loadgen, pgwait, redis_count
from bench.procs import ROOT, Proc, free_port, wait_http_ok

INTAKE_BODY = json.dumps({"workflow": "demo.flow", "payload": {"hello": "world"}})
FINAL = ("succeeded", "failed", "cancelled")


# The layer-off state of the layer-cost measurement (the on state is the bench's normal environment).
LAYER_OFF_ENV = {"RATELIMIT_ENABLED": "false", "LOG_REQUESTS": "false", "API_QUOTA_SANDBOX": "unlimited",
                 "API_QUOTA_PRO": "unlimited", "API_QUOTA_ENTERPRISE": "unlimited", "BENCH_QUOTA_COUNT_OFF": "1"}


def _fmt(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def summarize_windows(runs: list[dict]) -> dict:
    """One state of an alternating comparison: req/s (mean of its windows), CPU ms per request (the
    serving side's CPU over its windows / its requests), latency, errors, and when counted the Redis
    round trips per request served."""
    cpu_ms_windows = []
    for r in runs:
        cores = cpu.server_cores(r.get("cpu"))
        cpu_ms_windows.append(round(cores / r["rps"] * 1000, 3) if cores and r.get("rps") else None)
    cores_total = sum(cpu.server_cores(r.get("cpu")) or 0.0 for r in runs)
    rps_total = sum(r.get("rps") or 0.0 for r in runs)
    out = {"rps_windows": [round(r["rps"], 1) for r in runs],
           "rps": statistics.fmean(r["rps"] for r in runs),
           "p50_ms": statistics.fmean(r["p50_ms"] for r in runs if r.get("p50_ms") is not None)
           if any(r.get("p50_ms") is not None for r in runs) else None,
           "p99_ms": max((r["p99_ms"] for r in runs if r.get("p99_ms") is not None), default=None),
           "cpu": [r.get("cpu") for r in runs],
           "cpu_ms_windows": cpu_ms_windows,
           "cpu_ms": cores_total / rps_total * 1000 if cores_total and rps_total else None,
           "non_2xx": sum(r["non_2xx"] + r["socket_errors"] for r in runs)}
    if any("redis" in r for r in runs):
        total = {"round_trips": 0, "commands": 0, "by_first_command": {}}
        for r in runs:
            total = redis_count.add(total, r.get("redis") or {})
        jobs = sum(r.get("jobs") or 0 for r in runs)
        out["jobs"] = jobs
        out["redis"] = total
        out["redis_per_request"] = redis_count.per_request(total, jobs) if total["round_trips"] else None
    return out


class DepthSampler:
    """The queue depth (jobs queued or running) once a second, on its own thread and connection."""

    def __init__(self, interval: float = 1.0):
        import threading

        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="depth-sampler", daemon=True)

    def _run(self) -> None:
        from django.db import connection

        from jobs.models import Job

        started = time.monotonic()
        try:
            while not self._stop.is_set():
                depth = Job.objects.filter(status__in=["queued", "running"]).count()
                self.samples.append((round(time.monotonic() - started, 2), depth))
                self._stop.wait(self.interval)
        finally:
            connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


def depth_summary(samples: list[tuple[float, int]], seconds: float, *, no_backlog: int = 0) -> dict:
    """Queue depth after the first minute (a quarter of the window when it is under 4 minutes) against
    the depth at the end: each the median of the samples in a 5 s span (a single sample moves by a
    few jobs as workers claim), the early one starting at that moment, the end one closing the window.
    The backlog grows when the end is deeper than the early point and than no_backlog (jobs the
    workers hold or are about to claim: a depth that small is no backlog, 1 -> 2 is not growth)."""
    early_at = 60.0 if seconds >= 240 else round(seconds / 4, 1)
    span = 5.0
    early = [d for t, d in samples if early_at <= t < early_at + span]
    last_t = samples[-1][0] if samples else 0.0
    end = [d for t, d in samples if t > last_t - span]
    depth_early = statistics.median(early) if early else None
    depth_end = statistics.median(end) if end else None
    growing = None if depth_early is None or depth_end is None else depth_end > max(depth_early, no_backlog)
    return {"depth_samples": samples, "depth_early_at_s": early_at, "depth_early": depth_early, "no_backlog": no_backlog,
            "depth_end": depth_end, "depth_max": max((d for _, d in samples), default=None),
            "backlog_growing": growing}


def log(db: str, message: str) -> None:
    print(f"[{db} {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Suite:
    def __init__(self, args):
        self.args = args
        self.db = args.db
        self.log_dir = Path(args.log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.bin = Path(sys.executable).parent
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs: list[Proc] = []
        self.web: Proc | None = None
        self.web_base = ""
        self.cluster: Proc | None = None
        self.meter = cpu.CpuMeter()

    # --- setup ------------------------------------------------------------------------------

    def setup(self) -> dict:
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django_q.conf import Conf

        from accounts.services.keys import api_key_create
        from accounts.services.users import user_get_or_create
        from bench.baseline import BASELINE_TABLE_DDL
        from intelligence.services.runtime import runtime_setting_set
        from jobs.intake import intake_parse

        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_TABLE_DDL)
        # The intake phase queues tens of thousands of jobs with the cluster stopped: intake's backpressure
        # (runtime setting queue_max, 5,000 due jobs by default) would answer 503 queue_full, fast errors
        # that are no result. Raised in the bench's own database, as an operator would.
        runtime_setting_set("queue_max", 10**9, source="bench", reason="bench: jobs queue with the cluster stopped")
        self.user, _ = user_get_or_create(email="bench@levqor.local", name="Bench")
        created = api_key_create(owner=self.user, name="bench", livemode=False)
        self.api_key, self.raw_key = created.api_key, created.raw_key
        self.intake_request = intake_parse(body=INTAKE_BODY.encode(), content_type="application/json", legacy=True)
        self.vendor = connection.vendor
        self.redis = bool(settings.REDIS_URL)
        # CPU of the box's shared PostgreSQL / Redis counts as ours only for our database's backends, and
        # for Redis only when we use it (bench.cpu).
        self.meter.pg_database = connection.settings_dict["NAME"] if self.vendor == "postgresql" else None
        self.meter.redis_ours = self.redis
        log(self.db, f"migrated in {time.monotonic() - started:.1f} s; {self.vendor}, broker "
                     f"{'redis' if self.redis else 'orm'}, cluster {Conf.CLUSTER_NAME!r}")
        return {
            "database": self.vendor, "broker": "redis" if self.redis else "orm",
            "cache": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1],
            "q_cluster": {k: v for k, v in settings.Q_CLUSTER.items() if k not in ("redis", "name")},
            "conn_max_age": settings.DATABASES["default"].get("CONN_MAX_AGE"),
            "web_workers": self.args.web_workers,
            "loadgen": self.args.loadgen_resolved,
        }

    def broker(self):
        from jobs import dispatch

        return dispatch._broker()

    def reset_state(self) -> None:
        """Empty the job tables, the baseline table and the task queue between phases."""
        from django.db import connection
        from django_q.conf import Conf

        from bench.baseline import BASELINE_TABLE

        tables = ["jobs_jobevent", "jobs_callbackdelivery", "jobs_idempotencyrecord", "jobs_job", "jobs_dailyspend",
                  BASELINE_TABLE, "django_q_ormq", "django_q_task"]
        existing = set(connection.introspection.table_names())
        tables = [t for t in tables if t in existing]  # models move between apps; empty what is there
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
            else:
                for table in tables:
                    cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our own table names)
        if self.redis:
            self.broker().connection.delete(f"django_q:{Conf.CLUSTER_NAME}:q")

    def analyze(self) -> None:
        """Fresh planner statistics, as autovacuum would have on a live system."""
        if self.vendor == "postgresql":
            from django.db import connection

            with connection.cursor() as cursor:
                cursor.execute("ANALYZE jobs_job, jobs_jobevent, jobs_dailyspend, django_q_ormq")

    # --- processes ----------------------------------------------------------------------------

    def start_web(self, workers: int) -> None:
        self.web, self.web_base = self.spawn_web(workers)

    def spawn_web(self, workers: int, *, env: dict | None = None, name: str = "gunicorn") -> tuple[Proc, str]:
        """A gunicorn serving the project (and the baselines), up and answering: (process, base URL)."""
        port = free_port()
        argv = [str(self.bin / "gunicorn"), "levqor.wsgi:application", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--worker-class", "sync", "--graceful-timeout", "5", "--timeout", "60",
                "--backlog", "2048", "--log-level", "warning"]
        proc = Proc(f"{self.db}-{name}", argv, env={**self.env, **(env or {})}, log_dir=self.log_dir)
        self.procs.append(proc)
        self.meter.groups[proc.pid] = "gunicorn"
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(base + "/bench/bare", timeout=60, proc=proc)
        return proc, base

    def stop_web(self) -> None:
        if self.web is not None:
            self.web.stop(grace=10)
            self.web = None

    def start_cluster(self) -> None:
        argv = [sys.executable, "manage.py", "qcluster"]
        self.cluster = Proc(f"{self.db}-qcluster", argv, env=self.env, log_dir=self.log_dir, leader_only_term=True)
        self.procs.append(self.cluster)
        self.meter.groups[self.cluster.pid] = "qcluster"

    def stop_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.stop(grace=15)
            self.cluster = None

    def cleanup(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop(grace=10)
            except Exception as exc:  # keep stopping the others
                log(self.db, f"stopping {proc.name} failed: {exc}")

    # --- helpers ------------------------------------------------------------------------------

    def endpoints(self) -> dict:
        key = {"X-Api-Key": self.raw_key}
        return {
            "bare": {"path": "/bench/bare", "method": "GET", "body": None, "headers": {}, "expect": 200},
            "drf": {"path": "/bench/drf", "method": "POST", "body": INTAKE_BODY, "headers": key, "expect": 202},
            "obvious": {"path": "/api/v1/bench/obvious-intake", "method": "POST", "body": INTAKE_BODY, "headers": key,
                        "expect": 202},
            "intake": {"path": "/api/v1/intake", "method": "POST", "body": INTAKE_BODY, "headers": key, "expect": 202},
        }

    def check_endpoint(self, name: str, spec: dict) -> None:
        headers = dict(spec["headers"])
        data = spec["body"].encode() if spec["body"] is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.web_base + spec["path"], data=data, headers=headers,
                                         method=spec["method"])
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
                status, body = response.status, response.read()[:500]
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()[:500]
        if status != spec["expect"]:
            raise RuntimeError(f"{name}: {spec['method']} {spec['path']} answered {status}, expected "
                               f"{spec['expect']}: {body!r}")

    def load(self, spec: dict, *, seconds: float, connections: int | None = None, threads: int | None = None):
        return loadgen.run_load(self.web_base + spec["path"], method=spec["method"], body=spec["body"],
                                headers=spec["headers"], seconds=seconds,
                                connections=connections or self.args.connections,
                                threads=threads or self.args.threads, tool=self.args.loadgen_resolved)

    def wait_quiet(self, into: dict) -> None:
        """Give other processes on the box a (bounded) chance to finish before a measurement."""
        if self.args.quiet_wait:
            into["before"] = self.meter.wait_quiet(threshold=self.args.quiet_threshold, max_wait=self.args.quiet_wait)

    @contextlib.contextmanager
    def observe(self, into: dict, *, quiet: bool = True):
        """CPU by process group (and PostgreSQL wait states) over a window, stored in into."""
        if quiet:
            self.wait_quiet(into)
        sampler = pgwait.PgWaitSampler(os.environ["DATABASE_URL"]) if self.vendor == "postgresql" else None
        with self.meter.window() as usage, (sampler or contextlib.nullcontext()):
            yield
        into["cpu"] = usage
        if sampler is not None:
            into["pg_waits"] = sampler.result()

    def job_counts(self) -> dict:
        from django.db.models import Count, Q

        from jobs.models import Job

        return Job.objects.aggregate(queued=Count("pk", filter=Q(status="queued")),
                                     open=Count("pk", filter=Q(status__in=["queued", "running"])),
                                     succeeded=Count("pk", filter=Q(status="succeeded")), total=Count("pk"))

    def raw_pending(self) -> int:
        from django_q.conf import Conf
        from django_q.models import OrmQ

        if self.redis:
            return self.broker().queue_size()
        return OrmQ.objects.filter(key=Conf.CLUSTER_NAME).count()

    def create_jobs(self, count: int) -> float:
        """count jobs through the real service (cost reservation, event, enqueue on commit); returns jobs/s."""
        from jobs.services import job_create

        started = time.perf_counter()
        for _ in range(count):
            job_create(owner=self.user, api_key=self.api_key, livemode=False, request=self.intake_request,
                       endpoint="intake")
        return count / (time.perf_counter() - started)

    # --- phase 1: intake ------------------------------------------------------------------------

    def phase_intake(self) -> dict:
        a = self.args
        self.reset_state()
        # The intake's gunicorn counts its Redis round trips (bench.redis_count), in files of its workers.
        counter_dir = self.log_dir / f"redis-round-trips-{self.db}"
        counter_dir.mkdir(parents=True, exist_ok=True)
        for stale in counter_dir.glob("*.bin"):
            stale.unlink()
        self.web, self.web_base = self.spawn_web(a.web_workers, env={"BENCH_REDIS_COUNTER_DIR": str(counter_dir)})
        out: dict = {"seconds": a.seconds, "connections": a.connections, "threads": a.threads, "rounds": a.rounds,
                     "endpoints": {}}
        try:
            specs = self.endpoints()
            for name, spec in specs.items():
                self.check_endpoint(name, spec)
            runs: dict[str, list] = {name: [] for name in specs}
            for round_no in range(a.rounds):
                for name, spec in specs.items():
                    if a.warmup:
                        self.load(spec, seconds=a.warmup)
                    observed: dict = {}
                    with self.observe(observed):
                        result = self.load(spec, seconds=a.seconds)
                    result.notes.append(json.dumps(observed))
                    runs[name].append((result, observed))
                    log(self.db, f"intake round {round_no + 1}: {name:7s} {result.rps:8.1f} req/s  p50 "
                                 f"{result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  non-2xx {result.non_2xx}")
            for name, spec in specs.items():
                ordered = sorted(runs[name], key=lambda pair: pair[0].rps)
                best, observed = ordered[len(ordered) // 2]
                entry = {**best.as_dict(), **observed}
                entry.pop("notes", None)
                entry["rps_rounds"] = [round(r.rps, 1) for r, _ in runs[name]]
                c1 = self.load(spec, seconds=a.c1_seconds, connections=1, threads=1)
                entry["c1"] = {"rps": c1.rps, "p50_ms": c1.p50_ms, "p99_ms": c1.p99_ms, "non_2xx": c1.non_2xx}
                out["endpoints"][name] = entry
            from jobs.models import Job

            out["jobs_created"] = Job.objects.count()
            out["vs_obvious"] = self.guarded_part(out, "vs_obvious", lambda: self.versus_obvious(specs, counter_dir))
        finally:
            self.stop_web()
        self.reset_state()
        if a.metrics_cost:
            out["metrics_cost"] = self.guarded_part(out, "metrics_cost",
                                                    lambda: self.metrics_cost(self.endpoints()["intake"]))
        if a.layer_cost:
            out["layer_cost"] = self.guarded_part(out, "layer_cost", lambda: self.layer_cost(self.endpoints()["intake"]))
        return out

    def guarded_part(self, out: dict, name: str, fn):
        """One part of a phase failing keeps the phase's other figures (the error is recorded beside them)."""
        try:
            return fn()
        except Exception as exc:
            out.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
            log(self.db, f"{name} FAILED: {traceback.format_exc()}")
            return None

    def jobs_total(self) -> int:
        from jobs.models import Job

        return Job.objects.count()

    def alternate(self, states: dict, *, seconds: float, repeats: int, counter_dir: Path | None = None) -> dict:
        """Load switched between two states in short windows, in the order a, b, b, a, `repeats` times:
        a drift of the box (or the job table growing) weighs on both alike, which a few long windows
        one after another cannot promise on a shared box. states: name -> (base URL, endpoint spec).
        With counter_dir, each window also counts the Redis round trips of the gunicorn's workers and
        the jobs it created (the requests served, in-flight ones included: counted after they end)."""
        first, second = list(states)
        windows: dict[str, list] = {first: [], second: []}
        for state in (first, second, second, first) * repeats:
            base, spec = states[state]
            self.web_base = base
            before = (redis_count.read_totals(str(counter_dir)), self.jobs_total()) if counter_dir else None
            observed: dict = {}
            with self.observe(observed, quiet=False):
                result = self.load(spec, seconds=seconds)
            window = {**result.as_dict(), **observed}
            window.pop("notes", None)
            # gunicorn's sync workers still serve the requests queued when wrk stopped (up to
            # `connections` of them; a second and more for a slow endpoint): let them finish, so
            # neither their CPU nor their round trips land in the next window, of the other state.
            jobs = self.settle()
            if counter_dir:
                rt = redis_count.read_totals(str(counter_dir))
                window["redis"] = redis_count.subtract(rt, before[0])
                window["jobs"] = jobs - before[1]
            windows[state].append(window)
        self.web_base = ""
        return {state: summarize_windows(runs) for state, runs in windows.items()}

    def settle(self, *, interval: float = 0.25, max_wait: float = 8.0) -> int:
        """Wait until the server stops creating jobs (two readings alike, interval apart; at most
        max_wait): the requests left queued after a window have been served. Returns the job count."""
        deadline = time.monotonic() + max_wait
        last = self.jobs_total()
        while time.monotonic() < deadline:
            time.sleep(interval)
            now = self.jobs_total()
            if now == last:
                return now
            last = now
        return last

    def versus_obvious(self, specs: dict, counter_dir: Path) -> dict:
        """Ours against the obvious DRF intake on the same gunicorn, alternating windows; the Redis
        round trips per request of each from the workers' own counts."""
        a = self.args
        base = self.web_base
        self.wait_quiet({})
        out = self.alternate({"obvious": (base, specs["obvious"]), "ours": (base, specs["intake"])},
                             seconds=a.compare_window_seconds, repeats=a.compare_repeats, counter_dir=counter_dir)
        out["window_seconds"] = a.compare_window_seconds
        out["repeats"] = a.compare_repeats
        for state in ("obvious", "ours"):
            s = out[state]
            log(self.db, f"vs obvious: {state:7s} {s['rps']:8.1f} req/s, non-2xx {s['non_2xx']}, CPU "
                         f"{_fmt(s['cpu_ms'])} ms/req, Redis round "
                         f"trips/req {_fmt((s.get('redis_per_request') or {}).get('round_trips'))} (windows "
                         f"{s['rps_windows']})")
        self.web_base = base
        return out

    def metrics_cost(self, spec: dict) -> dict:
        """The live metrics' cost on the intake: two gunicorns alike but for METRICS_ENABLED (off, on),
        both up at once, the load switched between them in short windows, off, on, on, off, four
        times over: a box that gets busier or quieter, and the job table growing, weigh on both
        alike, which a few long windows cannot promise on a shared box. Then the same in-process,
        without the socket (bench.profile_intake.metrics_cost_in_process): steadier still."""
        a = self.args
        webs: dict[str, tuple[Proc, str]] = {}
        seconds = a.metrics_window_seconds
        try:
            for state in ("off", "on"):
                webs[state] = self.spawn_web(a.web_workers, env={"METRICS_ENABLED": "true" if state == "on" else "false"},
                                             name=f"gunicorn-metrics-{state}")
            for state, (_, base) in webs.items():
                self.web_base = base
                self.check_endpoint(f"intake (metrics {state})", spec)
                if a.warmup:
                    self.load(spec, seconds=a.warmup)
            self.wait_quiet({})
            windows = self.alternate({state: (webs[state][1], spec) for state in ("off", "on")}, seconds=seconds,
                                     repeats=a.compare_repeats)
        finally:
            for proc, _ in webs.values():
                proc.stop(grace=10)
            self.web_base = ""
        self.reset_state()
        from bench import profile_intake

        out: dict = {"window_seconds": seconds, "in_process": profile_intake.metrics_cost_in_process(
            raw_key=self.raw_key, body=INTAKE_BODY, intake_pairs=a.metrics_in_process_pairs,
            bare_pairs=3 * a.metrics_in_process_pairs, log=lambda m: log(self.db, m))}
        self.reset_state()
        for state, summary in windows.items():
            out[state] = summary
            log(self.db, f"metrics cost: intake, metrics {state:3s} {out[state]['rps']:8.1f} req/s (windows "
                         f"{out[state]['rps_windows']})")
        return out

    def layer_cost(self, spec: dict) -> dict:
        """What the security layer (rate limits, the quota count, the request log) costs the intake:
        two gunicorns alike, both up at once, one with the layer off (RATELIMIT_ENABLED=false,
        LOG_REQUESTS=false, every tier's quota unlimited and, bench-only, the quota count skipped:
        bench/apps.py), the load switched between them in windows off, on, on, off, four times
        over. The target compares CPU ms per request (on / off - 1)."""
        a = self.args
        webs: dict[str, tuple[Proc, str]] = {}
        try:
            for state in ("off", "on"):
                env = LAYER_OFF_ENV if state == "off" else {}
                webs[state] = self.spawn_web(a.web_workers, env=env, name=f"gunicorn-layer-{state}")
            for state, (_, base) in webs.items():
                self.web_base = base
                self.check_endpoint(f"intake (layer {state})", spec)
                if a.warmup:
                    self.load(spec, seconds=a.warmup)
            self.wait_quiet({})
            out = self.alternate({state: (webs[state][1], spec) for state in ("off", "on")},
                                 seconds=a.metrics_window_seconds, repeats=a.compare_repeats)
        finally:
            for proc, _ in webs.values():
                proc.stop(grace=10)
            self.web_base = ""
        self.reset_state()
        out["window_seconds"] = a.metrics_window_seconds
        out["repeats"] = a.compare_repeats
        out["off_env"] = LAYER_OFF_ENV
        for state in ("off", "on"):
            log(self.db, f"layer cost: intake, layer {state:3s} {out[state]['rps']:8.1f} req/s, CPU "
                         f"{_fmt(out[state]['cpu_ms'])} ms/req (windows {out[state]['rps_windows']})")
        return out

    # --- phase 2: drain -------------------------------------------------------------------------

    def drain(self, *, count_fn, total: int) -> dict:
        """Start the cluster and time the backlog: from the last poll that saw no progress to the
        first that saw it empty. count_fn returns (not yet started, not yet finished)."""
        a = self.args
        observed: dict = {}
        self.wait_quiet(observed)
        spawned = time.monotonic()
        self.start_cluster()
        state = {"last_full": spawned, "remaining": total}
        try:
            with self.observe(observed, quiet=False):
                self.drain_poll(count_fn, total, spawned + a.drain_timeout, state)
        finally:
            self.stop_cluster()
        if "finished" not in state:
            return {"complete": False, "remaining": state["remaining"], "timeout_s": a.drain_timeout, **observed}
        seconds = state["finished"] - state["last_full"]
        return {"complete": True, "count": total, "seconds": round(seconds, 3), "per_s": round(total / seconds, 1),
                "startup_s": round(state["last_full"] - spawned, 3),
                "wall_from_spawn_s": round(state["finished"] - spawned, 3), **observed}

    def drain_poll(self, count_fn, total: int, deadline: float, state: dict) -> None:
        while time.monotonic() < deadline:
            now = time.monotonic()
            not_started, state["remaining"] = count_fn()
            if not_started >= total:
                state["last_full"] = now
            if state["remaining"] == 0:
                state["finished"] = now
                return
            if not self.cluster.alive():
                raise RuntimeError(f"qcluster exited:\n{self.cluster.tail()}")
            time.sleep(self.args.poll)

    def phase_drain(self) -> dict:
        from django.db.models import Max, Min
        from django_q.tasks import async_task

        from jobs.models import Job

        n = self.args.backlog
        out: dict = {"backlog": n}

        self.reset_state()
        broker = self.broker()
        started = time.perf_counter()
        for _ in range(n):
            async_task("bench.baseline.noop", broker=broker)
        out["raw_enqueue_per_s"] = round(n / (time.perf_counter() - started), 1)
        self.analyze()
        pending = self.raw_pending()
        if pending != n:
            raise RuntimeError(f"raw backlog: {pending} tasks queued, expected {n}")
        log(self.db, f"raw backlog of {n} no-op tasks queued ({out['raw_enqueue_per_s']}/s); starting the cluster")

        def raw_counts():
            left = self.raw_pending()
            return left, left

        out["raw"] = self.drain(count_fn=raw_counts, total=n)
        log(self.db, f"raw django-q2 drain: {out['raw']}")

        self.reset_state()
        out["job_create_in_process_per_s"] = round(self.create_jobs(n), 1)
        self.analyze()
        tokens = self.raw_pending()
        log(self.db, f"{n} demo.flow jobs created in-process ({out['job_create_in_process_per_s']}/s), "
                     f"{tokens} run tokens queued; starting the cluster")

        def job_counts():
            counts = self.job_counts()
            return counts["queued"], counts["open"]

        jobs = self.drain(count_fn=job_counts, total=n)
        counts = self.job_counts()
        span = Job.objects.aggregate(first=Min("started_at"), last=Max("finished_at"))
        if span["first"] and span["last"]:
            db_seconds = (span["last"] - span["first"]).total_seconds()
            jobs["db_span_s"] = round(db_seconds, 3)
            jobs["db_span_per_s"] = round(counts["succeeded"] / db_seconds, 1) if db_seconds > 0 else None
        jobs["succeeded"] = counts["succeeded"]
        out["jobs"] = jobs
        log(self.db, f"demo.flow drain: {jobs}")
        self.reset_state()
        return out

    # --- phase 3: pickup --------------------------------------------------------------------------

    def wait_job(self, job_id, timeout: float = 15.0):
        from jobs.models import Job

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = Job.objects.filter(pk=job_id).values("status", "created_at", "started_at").first()
            if row["status"] in FINAL:
                return row
            time.sleep(0.004)
        raise RuntimeError(f"job {job_id} did not finish within {timeout} s (cluster log:\n"
                           f"{self.cluster.tail() if self.cluster else ''})")

    def wait_cluster_ready(self) -> None:
        """Run a few jobs through the fresh cluster so its workers have imported and connected."""
        from jobs.services import job_create

        for _ in range(5):
            job, _ = job_create(owner=self.user, api_key=self.api_key, livemode=False, request=self.intake_request,
                                endpoint="intake")
            self.wait_job(job.pk, timeout=60)

    def phase_pickup(self) -> dict:
        from jobs import dispatch
        from jobs.services import job_create

        stamps: list[float] = []
        original = dispatch.run_tokens_push

        def stamped(count: int = 1) -> None:
            stamps.append(time.time())  # the moment just before the enqueue
            original(count)

        pickups, since_created = [], []
        dispatch.run_tokens_push = stamped  # this process only: dispatch looks it up at call time
        try:
            rng = random.Random(7)
            for _ in range(self.args.pickup_jobs):
                time.sleep(rng.uniform(0.02, 0.08))  # idle: the last job finished, the workers wait
                job, _ = job_create(owner=self.user, api_key=self.api_key, livemode=False,
                                    request=self.intake_request, endpoint="intake")
                row = self.wait_job(job.pk)
                pickups.append((row["started_at"].timestamp() - stamps[-1]) * 1000)
                since_created.append((row["started_at"] - row["created_at"]).total_seconds() * 1000)
        finally:
            dispatch.run_tokens_push = original
        ordered, ordered_created = sorted(pickups), sorted(since_created)
        out = {"jobs": len(pickups), "p50_ms": round(loadgen.percentile(ordered, 50), 2),
               "p95_ms": round(loadgen.percentile(ordered, 95), 2), "max_ms": round(ordered[-1], 2),
               "mean_ms": round(statistics.fmean(ordered), 2),
               "created_to_started_p50_ms": round(loadgen.percentile(ordered_created, 50), 2),
               "created_to_started_p95_ms": round(loadgen.percentile(ordered_created, 95), 2)}
        log(self.db, f"pickup: {out}")
        return out

    # --- phase 4: sustained -----------------------------------------------------------------------

    def phase_sustained(self) -> dict:
        """gunicorn and the cluster together on the box, the whole layer on, wrk on the intake for
        sustain_seconds: jobs accepted and finished per second, the queue depth (jobs queued or
        running) sampled every second, the depth after the first minute (a quarter of the window
        when it is shorter than 4 minutes) against the depth at the end (a growing backlog shows as
        a deeper queue at the end), and the intake's p99."""
        from django.utils import timezone

        from jobs.models import Job

        a = self.args
        self.reset_state()
        self.start_web(a.web_workers)
        spec = self.endpoints()["intake"]
        self.check_endpoint("intake", spec)
        self.wait_job(Job.objects.get().pk, timeout=30)
        self.reset_state()
        observed: dict = {}
        self.wait_quiet(observed)
        sampler = DepthSampler()
        window_start = timezone.now()
        with self.observe(observed, quiet=False), sampler:
            result = self.load(spec, seconds=self.sustain_seconds())
        window_end = timezone.now()
        seconds = (window_end - window_start).total_seconds()
        accepted = Job.objects.filter(created_at__gte=window_start, created_at__lte=window_end).count()
        finished = Job.objects.filter(finished_at__gte=window_start, finished_at__lte=window_end).count()
        backlog = self.job_counts()["open"]
        self.stop_web()
        drained_at = None
        deadline = time.monotonic() + a.drain_timeout
        after = time.monotonic()
        while time.monotonic() < deadline:
            if self.job_counts()["open"] == 0:
                drained_at = time.monotonic()
                break
            time.sleep(a.poll)
        from django.conf import settings

        depth = depth_summary(sampler.samples, seconds, no_backlog=2 * settings.Q_CLUSTER["workers"])
        out = {"seconds": round(seconds, 2), "web_workers": a.web_workers, "accepted": accepted,
               "finished": finished, "accepted_per_s": round(accepted / seconds, 1),
               "finished_per_s": round(finished / seconds, 1), "backlog_at_end": backlog,
               "backlog_drain_s": round(drained_at - after, 2) if drained_at else None,
               "intake_rps": round(result.rps, 1), "intake_p50_ms": result.p50_ms, "intake_p99_ms": result.p99_ms,
               "non_2xx": result.non_2xx, "socket_errors": result.socket_errors,
               "succeeded_total": self.job_counts()["succeeded"], **depth, **observed}
        log(self.db, f"sustained: accepted {out['accepted_per_s']}/s finished {out['finished_per_s']}/s depth after "
                     f"{depth['depth_early_at_s']} s {depth['depth_early']} -> end {depth['depth_end']} (growing: "
                     f"{depth['backlog_growing']}), p99 {result.p99_ms} ms")
        return out

    def sustain_seconds(self) -> float:
        """The full length on PostgreSQL + Redis (the target's); SQLite's run is context, kept short."""
        return self.args.sustain_seconds if self.vendor == "postgresql" else self.args.sustain_seconds_sqlite

    # --- idle cluster -------------------------------------------------------------------------------

    def idle_cluster_cpu(self) -> dict:
        """The cluster's CPU while it has nothing to do: a warmed-up cluster, nothing queued, for
        idle_seconds. A polling loop that spins shows here (the ORM broker polls its table)."""
        observed: dict = {}
        self.wait_quiet(observed)
        with self.meter.window() as usage:
            time.sleep(self.args.idle_seconds)
        out = {"seconds": self.args.idle_seconds, "qcluster_cores": usage.get("qcluster", 0.0),
               "postgres_cores": usage.get("postgres", 0.0), "redis_cores": usage.get("redis", 0.0), "cpu": usage}
        log(self.db, f"idle cluster: {out['qcluster_cores']:.3f} cores qcluster (postgres {out['postgres_cores']:.3f}, "
                     f"redis {out['redis_cores']:.3f}) over {out['seconds']:g} s")
        return out

    # --- all ----------------------------------------------------------------------------------------

    def run(self) -> dict:
        result: dict = {"db": self.db, "settings": self.setup(), "errors": {}}
        phases = self.args.phases
        for phase in ("intake", "drain"):
            if phase in phases:
                result[phase] = self.guarded(result, phase, getattr(self, f"phase_{phase}"))
        if "pickup" in phases or "sustained" in phases:
            self.reset_state()
            self.start_cluster()
            try:
                ready = self.guarded(result, "cluster_start", lambda: self.wait_cluster_ready() or True)
                if ready and "pickup" in phases:
                    result["idle_cluster"] = self.guarded(result, "idle_cluster", self.idle_cluster_cpu)
                for phase in ("pickup", "sustained"):
                    if ready and phase in phases:
                        result[phase] = self.guarded(result, phase, getattr(self, f"phase_{phase}"))
            finally:
                self.stop_web()
                self.stop_cluster()
        want_profile = self.args.profile == "on" or (self.args.profile == "auto" and self.intake_below_drf(result))
        if want_profile and "profile" in phases:
            from bench import profile_intake

            result["profile"] = self.guarded(result, "profile", lambda: profile_intake.run(
                raw_key=self.raw_key, body=INTAKE_BODY, requests=self.args.profile_requests,
                log=lambda m: log(self.db, m)))
        return result

    @staticmethod
    def intake_below_drf(result: dict) -> bool:
        endpoints = (result.get("intake") or {}).get("endpoints") or {}
        if "intake" not in endpoints or "drf" not in endpoints:
            return False
        return endpoints["intake"]["rps"] < endpoints["drf"]["rps"]

    def guarded(self, result: dict, phase: str, fn):
        try:
            return fn()
        except Exception as exc:  # one phase failing must not lose the others
            result["errors"][phase] = f"{type(exc).__name__}: {exc}"
            log(self.db, f"phase {phase} FAILED: {traceback.format_exc()}")
            self.stop_web()
            self.stop_cluster()
            return None


def _app_log_to_file(path: Path) -> None:
    """The project's log lines written in this process (one per request of the in-process profile)
    go to a file of the run's logs, not into the bench's report: still formatted and written, as
    in gunicorn, so the profile keeps their cost."""
    import logging

    path.parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "a")  # noqa: SIM115 (the process's log, open until it exits)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream in (sys.stderr, sys.__stderr__):
            handler.setStream(stream)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--config", required=True, help="JSON of the options chosen by run.py")
    args = parser.parse_args(argv)
    for key, value in json.loads(args.config).items():
        setattr(args, key, value)
    # run.py stops us with SIGTERM: turn it into SystemExit so the finally below stops our children.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    _app_log_to_file(Path(args.log_dir) / f"{args.db}-bench-driver.log")
    suite = Suite(args)
    try:
        result = suite.run()
    finally:
        suite.cleanup()
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
