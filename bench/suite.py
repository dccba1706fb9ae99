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

from bench import cpu, loadgen, pgwait
from bench.procs import ROOT, Proc, free_port, wait_http_ok

INTAKE_BODY = json.dumps({"workflow": "demo.flow", "payload": {"hello": "world"}})
FINAL = ("succeeded", "failed", "cancelled")


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
        from jobs.intake import intake_parse

        started = time.monotonic()
        call_command("migrate", verbosity=0, interactive=False)
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_TABLE_DDL)
        self.user, _ = user_get_or_create(email="bench@levqor.local", name="Bench")
        created = api_key_create(owner=self.user, name="bench", livemode=False)
        self.api_key, self.raw_key = created.api_key, created.raw_key
        self.intake_request = intake_parse(body=INTAKE_BODY.encode(), content_type="application/json", legacy=True)
        self.vendor = connection.vendor
        self.redis = bool(settings.REDIS_URL)
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
        self.start_web(a.web_workers)
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
        finally:
            self.stop_web()
        self.reset_state()
        if a.metrics_cost:
            out["metrics_cost"] = self.metrics_cost(self.endpoints()["intake"])
        return out

    def metrics_cost(self, spec: dict) -> dict:
        """The live metrics' cost on the intake: two gunicorns alike but for METRICS_ENABLED (off, on),
        both up at once, the load switched between them in short windows, off, on, on, off, four
        times over: a box that gets busier or quieter, and the job table growing, weigh on both
        alike, which a few long windows cannot promise on a shared box. Then the same in-process,
        without the socket (bench.profile_intake.metrics_cost_in_process): steadier still."""
        a = self.args
        webs: dict[str, tuple[Proc, str]] = {}
        windows: dict[str, list] = {"off": [], "on": []}
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
            for state in ("off", "on", "on", "off") * 4:
                self.web_base = webs[state][1]
                observed: dict = {}
                with self.observe(observed, quiet=False):
                    result = self.load(spec, seconds=seconds)
                windows[state].append({**result.as_dict(), **observed})
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
        for state, runs in windows.items():
            out[state] = {"rps_windows": [round(r["rps"], 1) for r in runs],
                          "rps": statistics.fmean(r["rps"] for r in runs),
                          "p50_ms": statistics.fmean(r["p50_ms"] for r in runs),
                          "cpu": [r.get("cpu") for r in runs],
                          "non_2xx": sum(r["non_2xx"] + r["socket_errors"] for r in runs)}
            log(self.db, f"metrics cost: intake, metrics {state:3s} {out[state]['rps']:8.1f} req/s (windows "
                         f"{out[state]['rps_windows']})")
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
        window_start = timezone.now()
        with self.observe(observed, quiet=False):
            result = self.load(spec, seconds=a.sustain_seconds)
        window_end = timezone.now()
        seconds = (window_end - window_start).total_seconds()
        in_window = Job.objects.filter(created_at__gte=window_start, created_at__lte=window_end)
        accepted = in_window.count()
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
        out = {"seconds": round(seconds, 2), "web_workers": a.web_workers, "accepted": accepted,
               "finished": finished, "accepted_per_s": round(accepted / seconds, 1),
               "finished_per_s": round(finished / seconds, 1), "backlog_at_end": backlog,
               "backlog_drain_s": round(drained_at - after, 2) if drained_at else None,
               "intake_rps": round(result.rps, 1), "intake_p50_ms": result.p50_ms, "intake_p99_ms": result.p99_ms,
               "non_2xx": result.non_2xx, "succeeded_total": self.job_counts()["succeeded"], **observed}
        log(self.db, f"sustained: {out}")
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
                self.wait_cluster_ready()
                for phase in ("pickup", "sustained"):
                    if phase in phases:
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
    suite = Suite(args)
    try:
        result = suite.run()
    finally:
        suite.cleanup()
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
