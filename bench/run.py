"""Levqor benchmark: intake, drain, pickup and sustained jobs/s on SQLite and on PostgreSQL + Redis,
each beside a baseline measured in the same run. See bench/README.md.

    .venv/bin/python bench/run.py                 # both databases, full length (~6 min)
    .venv/bin/python bench/run.py --quick         # shorter runs and backlogs (~2 min)
    .venv/bin/python bench/run.py --db postgres --phases intake,profile --profile on

Each database gets a fresh store (a SQLite file in a temporary directory; a PostgreSQL database
levqor_bench, dropped afterwards) and its own django-q2 cluster name and cache prefix, so a
developer's var/levqor.sqlite3, queue and cache are never touched. All traffic is to 127.0.0.1.
"""

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import cpu, loadgen, pgwait, targets  # noqa: E402
from bench.procs import PIDFILE_ENV, sweep_pidfile  # noqa: E402

RESULTS = ROOT / "bench" / "results"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Variables of the developer's shell that would point the bench at their own stores.
SCRUB = ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "SQLITE_TEST_PATH", "LEVQOR_VAR_DIR", "Q_CLUSTER_NAME",
         "CACHE_KEY_PREFIX", "DJANGO_SETTINGS_MODULE", "DEBUG", "Q_WORKERS", "DAILY_BUDGET", "SECRET_KEY")
# The RATIOS section's own thresholds; the issue-14 targets are bench/targets.py's GOALS (TARGETS table).
TARGETS = {"drain_vs_raw": targets.GOALS["drain_vs_raw"][1]["postgres"],
           "pickup_p50_ms_redis": targets.GOALS["pickup_p50_ms"][1]["postgres"], "metrics_on_vs_off": 0.95}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="short runs: 3 s per endpoint, 1,000-job backlogs")
    p.add_argument("--phases", default="intake,drain,pickup,sustained,profile,webhooks",
                   help="comma list of intake,drain,pickup,sustained,profile,webhooks (default: all)")
    p.add_argument("--webhook-events", type=int,
                   help="events of the webhook fan-out, each to 10 endpoints (default 500, quick 100)")
    p.add_argument("--seconds", type=float, help="wrk duration per endpoint (default 10, quick 3)")
    p.add_argument("--rounds", type=int, default=1, help="intake rounds; the median round is reported")
    p.add_argument("--no-metrics-cost", dest="metrics_cost", action="store_false",
                   help="skip the intake with METRICS_ENABLED off beside on (16 more short windows)")
    p.add_argument("--backlog", type=int, help="jobs and no-op tasks per drain (default 5000, quick 1000)")
    p.add_argument("--pickup-jobs", type=int, help="jobs in the pickup measurement (default 200, quick 50)")
    p.add_argument("--sustain-seconds", type=float, help="sustained phase length (default 300, quick 30)")
    p.add_argument("--no-layer-cost", dest="layer_cost", action="store_false",
                   help="skip the intake with the security layer off beside on (16 more short windows)")
    p.add_argument("--compare-repeats", type=int,
                   help="alternating comparisons (ours vs obvious, layer and metrics off/on): repeats of the "
                        "window order a, b, b, a (default 4, quick 3)")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto",
                   help="auto: wrk if installed, else the Python fallback (with a warning)")
    p.add_argument("--sqlite-web-workers", type=int, default=1, help="as scripts/run.sh: 1 sync worker on SQLite")
    p.add_argument("--pg-web-workers", type=int, default=4, help="gunicorn sync workers on PostgreSQL")
    p.add_argument("--profile", choices=["auto", "on", "off"], default="auto",
                   help="in-process intake profile; auto = only when intake is below the DRF baseline "
                        "(and not with --quick)")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"),
                   help="server to create the bench database on (no database name)")
    p.add_argument("--pg-db", default="levqor_bench")
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument("--quiet-wait", type=float,
                   help="before each measured window, wait up to this many seconds for other processes to use "
                        "less than --quiet-threshold cores (0: do not wait; default 10, quick 3)")
    p.add_argument("--quiet-threshold", type=float, default=0.3)
    p.add_argument("--keep", action="store_true", help="keep the bench databases and temp files afterwards")
    p.add_argument("--experiment", action="append", default=[], metavar="NAME",
                   help="apply a settings experiment of bench/settings.py (persistent_conn, no_health_checks, "
                        "async_commit); the report says so. Repeatable")
    return p.parse_args(argv)


def config_from(args) -> dict:
    quick = args.quick
    return {
        "phases": [x.strip() for x in args.phases.split(",") if x.strip()],
        "seconds": args.seconds or (3 if quick else 10),
        "warmup": 1 if quick else 2,
        "c1_seconds": 1 if quick else 3,
        "rounds": max(1, args.rounds),
        "metrics_cost": args.metrics_cost,
        "metrics_window_seconds": 1.5 if quick else 3,
        "metrics_in_process_pairs": 400 if quick else 3000,
        "backlog": args.backlog or (1000 if quick else 5000),
        "pickup_jobs": args.pickup_jobs or (50 if quick else 200),
        "sustain_seconds": args.sustain_seconds or (30 if quick else 300),
        "layer_cost": args.layer_cost,
        "compare_window_seconds": 1.5 if quick else 3,
        "compare_repeats": args.compare_repeats or (3 if quick else 4),
        "idle_seconds": 6 if quick else 10,
        # SQLite's sustained run is context (the target is PostgreSQL + Redis's): kept short.
        "sustain_seconds_sqlite": min(args.sustain_seconds or 300, 20 if quick else 60),
        "connections": args.connections,
        "threads": args.threads,
        "drain_timeout": 180,
        "poll": 0.05,
        # auto: only when the intake is below the minimal DRF row; --quick leaves it to --profile on.
        "profile": "off" if quick and args.profile == "auto" else args.profile,
        # 500 x 10 endpoints: the engine's rate settles within seconds; 2,000 took ~8 min on PostgreSQL.
        "webhook_events": args.webhook_events or (100 if quick else 500),
        "profile_requests": 300 if quick else 1000,
        "quiet_wait": args.quiet_wait if args.quiet_wait is not None else (3.0 if quick else 10.0),
        "quiet_threshold": args.quiet_threshold,
    }


def fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def require_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise SystemExit(f"bench: {what} must be on 127.0.0.1 (got {host!r})")


# --- stores ------------------------------------------------------------------------------------

def pg_admin(url: str):
    import psycopg

    return psycopg.connect(url.rstrip("/") + "/postgres", autocommit=True, connect_timeout=5)


def pg_create(args) -> str:
    with pg_admin(args.pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.pg_db}"')
    parts = urlsplit(args.pg_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + args.pg_db, "", ""))


def pg_drop(args) -> None:
    with pg_admin(args.pg_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')


def redis_client(url: str):
    import redis

    return redis.from_url(url, socket_connect_timeout=3)


def redis_clean(url: str, prefixes: list[str]) -> int:
    client = redis_client(url)
    removed = 0
    for prefix in prefixes:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            removed += client.delete(*keys)
    return removed


# --- running one database -------------------------------------------------------------------------

def run_db(db: str, args, config: dict, run_id: str, pidfile: Path, log_dir: Path) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"levqor-bench-{db}-"))
    name = f"levqor-bench-{run_id}-{db}"
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env.update({
        "DJANGO_SETTINGS_MODULE": "bench.settings", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(40),
        "LEVQOR_VAR_DIR": str(tmp), "Q_CLUSTER_NAME": name, "CACHE_KEY_PREFIX": name,
        "DAILY_BUDGET": "1000000000",
        # A fresh key for the stored secrets: required outside the embedded mode (system check levqor.E004,
        # which stops manage.py qcluster), and the bench's secrets are throwaway.
        "FIELD_ENCRYPTION_KEYS": fernet_key(),
        # The load comes from one address with one key: limits and the monthly quota high enough
        # never to bite, so the rate-limit middleware's and the quota counter's cost are still measured.
        "RATELIMIT_WRITES_PER_IP": "1000000000", "RATELIMIT_GLOBAL": "1000000000",
        "RATELIMIT_KEY_SANDBOX": "1000000000", "API_QUOTA_SANDBOX": "1000000000",
        "PYTHONPATH": str(ROOT), PIDFILE_ENV: str(pidfile),
        "PYTHONUNBUFFERED": "1", "BENCH_EXPERIMENTS": ",".join(args.experiment),
    })
    created_pg = False
    web_workers = args.sqlite_web_workers if db == "sqlite" else args.pg_web_workers
    try:
        if db == "sqlite":
            env["SQLITE_PATH"] = str(tmp / "bench.sqlite3")
        else:
            require_loopback(args.pg_url, "--pg-url")
            require_loopback(args.redis_url, "--redis-url")
            redis_client(args.redis_url).ping()
            env["DATABASE_URL"] = pg_create(args)
            created_pg = True
            env["REDIS_URL"] = args.redis_url
        out = tmp / "result.json"
        child_config = {**config, "web_workers": web_workers, "loadgen_resolved": config["loadgen_resolved"]}
        argv = [sys.executable, "-m", "bench.suite", "--db", db, "--out", str(out), "--log-dir", str(log_dir),
                "--config", json.dumps(child_config)]
        child = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)
        try:
            rc = child.wait(timeout=3600)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=40)
            raise
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            sweep_pidfile(str(pidfile))
        if rc != 0 or not out.exists():
            return {"db": db, "errors": {"suite": f"exited with {rc}; see the output above and {log_dir}"}}
        result = json.loads(out.read_text())
        if "webhooks" in config["phases"]:
            result["webhooks"] = run_webhooks_fanout(env, tmp, config)
        return result
    finally:
        sweep_pidfile(str(pidfile))
        if db == "postgres":
            with contextlib.suppress(Exception):
                redis_clean(args.redis_url, [f"django_q:{name}", f"{name}:"])
            if created_pg and not args.keep:
                try:
                    pg_drop(args)
                except Exception as exc:
                    print(f"bench: could not drop database {args.pg_db}: {exc}", file=sys.stderr)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run_webhooks_fanout(env: dict, tmp: Path, config: dict) -> dict:
    """bench/webhooks_fanout.py on this database's fresh stores, after the suite."""
    out = tmp / "webhooks.json"
    argv = [sys.executable, "-m", "bench.webhooks_fanout", "--events", str(config["webhook_events"]), "--out", str(out)]
    child = subprocess.run(argv, cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "levqor.settings"}, timeout=1800,
                           check=False)
    if not out.exists():
        return {"error": f"bench.webhooks_fanout exited with {child.returncode}"}
    return json.loads(out.read_text())


# --- report ------------------------------------------------------------------------------------------

def _f(value, fmt="{:.1f}", none="-"):
    return none if value is None else fmt.format(value)


def cpu_ms_per_item(entry: dict, rate: float | None) -> float | None:
    """CPU milliseconds the serving side (gunicorn or qcluster, PostgreSQL, Redis) spent per request or
    task: unlike req/s, barely moved by other processes sharing the box."""
    cores = cpu.server_cores(entry.get("cpu"))
    return cores / rate * 1000 if cores and rate else None


def _mean_cpu_ms(state: dict) -> float | None:
    """CPU ms per request of the serving side over a state's windows (metrics on or off)."""
    costs = [cpu_ms_per_item({"cpu": usage}, rps) for usage, rps in zip(state.get("cpu") or [], state["rps_windows"],
                                                                        strict=False)]
    costs = [c for c in costs if c]
    return sum(costs) / len(costs) if costs else None


def ratios(result: dict) -> dict:
    out = {}
    if (result.get("webhooks") or {}).get("engine_vs_plain"):
        out["webhooks_engine_vs_plain"] = result["webhooks"]["engine_vs_plain"]
    endpoints = (result.get("intake") or {}).get("endpoints") or {}
    rps = {name: e.get("rps") for name, e in endpoints.items()}
    if rps.get("intake") and rps.get("drf"):
        out["intake_vs_drf"] = rps["intake"] / rps["drf"]
    if rps.get("intake") and rps.get("bare"):
        out["intake_vs_bare"] = rps["intake"] / rps["bare"]
    if rps.get("drf") and rps.get("bare"):
        out["drf_vs_bare"] = rps["drf"] / rps["bare"]
    cost = {name: cpu_ms_per_item(e, e.get("rps")) for name, e in endpoints.items()}
    if cost.get("intake") and cost.get("drf"):
        out["intake_vs_drf_by_cpu"] = cost["drf"] / cost["intake"]
    cost = (result.get("intake") or {}).get("metrics_cost") or {}
    on, off = cost.get("on") or {}, cost.get("off") or {}
    if on.get("rps") and off.get("rps"):
        out["metrics_on_vs_off"] = on["rps"] / off["rps"]
        in_process = cost.get("in_process") or {}
        if in_process.get("intake_on_vs_off"):
            out["metrics_on_vs_off_in_process"] = in_process["intake_on_vs_off"]
            out["metrics_bare_extra_us"] = in_process["bare_extra_us"]
        on_cpu = _mean_cpu_ms(on)
        off_cpu = _mean_cpu_ms(off)
        if on_cpu and off_cpu:
            out["metrics_on_vs_off_by_cpu"] = off_cpu / on_cpu
    drain = result.get("drain") or {}
    raw, jobs = drain.get("raw") or {}, drain.get("jobs") or {}
    if raw.get("per_s") and jobs.get("per_s"):
        out["drain_vs_raw"] = jobs["per_s"] / raw["per_s"]
        raw_cost, jobs_cost = cpu_ms_per_item(raw, raw["per_s"]), cpu_ms_per_item(jobs, jobs["per_s"])
        if raw_cost and jobs_cost:
            out["drain_vs_raw_by_cpu"] = raw_cost / jobs_cost
    if (result.get("pickup") or {}).get("p50_ms") is not None:
        out["pickup_p50_ms"] = result["pickup"]["p50_ms"]
    for key, (measured, _) in targets.measurements(result).items():
        out.setdefault(key, measured)
    versus = (result.get("intake") or {}).get("vs_obvious") or {}
    obvious_rt = ((versus.get("obvious") or {}).get("redis_per_request") or {}).get("round_trips")
    if obvious_rt is not None:
        out["redis_round_trips_per_obvious"] = obvious_rt
    layer = (result.get("intake") or {}).get("layer_cost") or {}
    if (layer.get("on") or {}).get("rps") and (layer.get("off") or {}).get("rps"):
        out["layer_rps_on_vs_off"] = layer["on"]["rps"] / layer["off"]["rps"]
    return out


NOISE_CORES = 0.3


def _observed(entry: dict, noisy: list, where: str) -> list[str]:
    out = []
    usage = entry.get("cpu")
    if usage:
        out.append("        " + cpu.render(usage))
        if usage.get("other", 0) >= NOISE_CORES:
            noisy.append(f"{where} ({usage['other']:.2f})")
    waits = pgwait.render(entry.get("pg_waits"))
    if waits:
        out.append("        " + waits)
    return out


def render(results: list[dict], meta: dict) -> str:
    lines = [f"Levqor benchmark {meta['started']}  ({meta['cores']} cores, Python {meta['python']}, "
             f"load: {meta['loadgen']})"]
    if meta["loadgen"] != "wrk":
        lines.append("  ! wrk is not installed: figures come from the Python load generator, which competes with "
                     "the server for the GIL-free cores; install wrk (apt-get install -y wrk) for real numbers.")
    git = meta.get("git") or {}
    lines.append(f"  code: {git.get('head')}" + (f" + uncommitted changes in {', '.join(git['dirty_files'])}"
                                                  if git.get("dirty_files") else " (clean)")
                 + f"; load average at start {meta['loadavg_at_start'][0]:.2f}")
    if meta.get("experiments"):
        lines.append(f"  ! EXPERIMENTS in force (not the project as it is): {', '.join(meta['experiments'])}")
    cfg = meta["config"]
    noisy = []
    for result in results:
        s = result.get("settings") or {}
        title = {"sqlite": "SQLite", "postgres": "PostgreSQL + Redis"}.get(result["db"], result["db"])
        lines += ["", f"== {title}: broker {s.get('broker', '?')}, cache {s.get('cache', '?')}, gunicorn "
                      f"{s.get('web_workers', '?')} sync worker(s), qcluster workers "
                      f"{(s.get('q_cluster') or {}).get('workers', '?')} =="]
        intake = result.get("intake")
        if intake:
            lines.append(f"  Intake, wrk -t{cfg['threads']} -c{cfg['connections']} {cfg['seconds']:g} s "
                         f"(median of {cfg['rounds']} round(s)); p50@c1 = one connection, no queueing")
            lines.append(f"    {'endpoint':26s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'p50@c1 ms':>10s} "
                         f"{'c1 req/s':>9s} {'non-2xx':>8s} {'CPU ms/req':>10s}")
            labels = {"bare": "bare Django JSON view", "drf": "minimal DRF (schema+SEL+INS)",
                      "obvious": "obvious DRF intake", "intake": "POST /api/v1/intake"}
            for name, label in labels.items():
                e = intake["endpoints"].get(name)
                if not e:
                    continue
                c1 = e.get("c1") or {}
                lines.append(f"    {label:26s} {e['rps']:9.1f} {_f(e['p50_ms'], '{:.2f}'):>8s} "
                             f"{_f(e['p99_ms'], '{:.2f}'):>8s} {_f(c1.get('p50_ms'), '{:.2f}'):>10s} "
                             f"{_f(c1.get('rps')):>9s} {e['non_2xx'] + e['socket_errors']:8d} "
                             f"{_f(cpu_ms_per_item(e, e['rps']), '{:.2f}'):>10s}")
                lines += _observed(e, noisy, f"{result['db']} {name}")
        versus = (intake or {}).get("vs_obvious")
        if versus:
            lines.append(f"  Ours against the obvious DRF intake, one gunicorn, load switched between them in "
                         f"{versus['window_seconds']:g} s windows (obvious, ours, ours, obvious) x {versus['repeats']}")
            for state, label in (("obvious", "obvious DRF intake"), ("ours", "POST /api/v1/intake")):
                c = versus[state]
                rt = c.get("redis_per_request") or {}
                redis = (f", Redis round trips/req {rt['round_trips']:.2f} ({rt['commands']:.2f} commands; by first "
                         f"command {rt['by_first_command']})" if rt else "")
                lines.append(f"    {label:26s} {c['rps']:9.1f} req/s, CPU {_f(c.get('cpu_ms'), '{:.2f}')} ms/req, p99 "
                             f"{_f(c.get('p99_ms'), '{:.1f}')} ms, non-2xx {c['non_2xx']}{redis}")
                lines.append(f"      windows req/s {c['rps_windows']}; CPU ms/req {c['cpu_ms_windows']}")
                noisy += _noisy_windows(c["cpu"], f"{result['db']} vs obvious {state}")
        layer = (intake or {}).get("layer_cost")
        if layer:
            lines.append(f"  The security layer's cost on the intake: two gunicorns alike but for the layer (off: "
                         f"RATELIMIT_ENABLED=false, LOG_REQUESTS=false, quotas unlimited and not counted), "
                         f"{layer['window_seconds']:g} s windows (off, on, on, off) x {layer.get('repeats', 4)}")
            for state in ("off", "on"):
                c = layer[state]
                lines.append(f"    {'POST /api/v1/intake, ' + state:26s} {c['rps']:9.1f} req/s, CPU "
                             f"{_f(c.get('cpu_ms'), '{:.3f}')} ms/req; windows {c['rps_windows']} req/s, CPU "
                             f"{c['cpu_ms_windows']} ms/req, non-2xx {c['non_2xx']}")
                noisy += _noisy_windows(c["cpu"], f"{result['db']} layer {state}")
        for part, error in ((intake or {}).get("errors") or {}).items():
            lines.append(f"  ! intake {part} failed: {error}")
        cost = (intake or {}).get("metrics_cost")
        if cost:
            lines.append(f"  Live metrics' cost on the intake: two gunicorns alike but for METRICS_ENABLED, load switched "
                         f"between them in {cost['window_seconds']:g} s windows (off, on, on, off) x "
                         f"{len(cost['on']['rps_windows']) // 2}")
            for state in ("off", "on"):
                c = cost[state]
                lines.append(f"    {'POST /api/v1/intake, ' + state:26s} {c['rps']:9.1f} {c['p50_ms']:8.2f}    windows "
                             f"{c['rps_windows']} req/s, CPU {_f(_mean_cpu_ms(c), '{:.2f}')} ms/req, non-2xx "
                             f"{c['non_2xx']}")
            ip = cost.get("in_process")
            if ip:
                lines.append(f"    in-process (WSGI handler, no socket; requests alternating off/on, {ip['intake_pairs']} "
                             f"intake and {ip['bare_pairs']} bare pairs): intake median {ip['intake_off']:.0f} us off / "
                             f"{ip['intake_on']:.0f} us on (mean {ip['intake_off_mean']:.0f} / {ip['intake_on_mean']:.0f});"
                             f" bare view {ip['bare_off']:.0f} / {ip['bare_on']:.0f} us ({ip['bare_extra_us']:+.1f} us)")
            for state in ("off", "on"):
                for i, usage in enumerate(cost[state]["cpu"]):
                    if usage and usage.get("other", 0) >= NOISE_CORES:
                        noisy.append(f"{result['db']} intake metrics {state} window {i + 1} ({usage['other']:.2f})")
        drain = result.get("drain")
        if drain:
            lines.append(f"  Drain of a {drain['backlog']}-item backlog (queued with the cluster stopped, then "
                         "qcluster started; first progress -> empty)")
            for key, label in (("raw", "raw django-q2 no-op tasks"), ("jobs", "demo.flow jobs")):
                d = drain.get(key) or {}
                if not d.get("complete"):
                    lines.append(f"    {label:30s} INCOMPLETE: {d}")
                    continue
                extra = f"  (DB span {d['db_span_per_s']}/s, {d.get('succeeded')} succeeded)" if key == "jobs" else ""
                lines.append(f"    {label:30s} {d['per_s']:8.1f}/s  in {d['seconds']:.2f} s  "
                             f"(startup {d['startup_s']:.2f} s; {_f(cpu_ms_per_item(d, d['per_s']), '{:.2f}')} "
                             f"CPU ms each){extra}")
                lines += _observed(d, noisy, f"{result['db']} drain {key}")
            lines.append(f"    job_create in-process {drain.get('job_create_in_process_per_s')}/s; "
                         f"raw async_task enqueue {drain.get('raw_enqueue_per_s')}/s")
        idle = result.get("idle_cluster")
        if idle:
            lines.append(f"  Idle cluster ({idle['seconds']:g} s, nothing queued): qcluster {idle['qcluster_cores']:.3f} "
                         f"cores, postgres {idle['postgres_cores']:.3f}, redis {idle['redis_cores']:.3f}")
        pickup = result.get("pickup")
        if pickup:
            lines.append(f"  Pickup on an idle cluster, {pickup['jobs']} jobs one at a time (enqueue -> running): "
                         f"p50 {pickup['p50_ms']:.2f} ms, p95 {pickup['p95_ms']:.2f} ms, max {pickup['max_ms']:.1f} ms"
                         f"  [created_at -> started_at p50 {pickup['created_to_started_p50_ms']:.2f} ms]")
        sus = result.get("sustained")
        if sus:
            lines.append(f"  Sustained {sus['seconds']:.0f} s, intake under wrk + cluster on the same box: "
                         f"accepted {sus['accepted_per_s']}/s, finished {sus['finished_per_s']}/s, backlog at end "
                         f"{sus['backlog_at_end']} (drained {_f(sus['backlog_drain_s'], '{:.1f}')} s later); "
                         f"intake p99 {_f(sus['intake_p99_ms'], '{:.1f}')} ms, non-2xx {sus['non_2xx']}")
            if "depth_end" in sus:
                lines.append(f"    queue depth (queued + running, each second): after {sus['depth_early_at_s']:g} s "
                             f"{_f(sus['depth_early'], '{:g}')}, at the end {_f(sus['depth_end'], '{:g}')}, max "
                             f"{_f(sus['depth_max'], '{:g}')}: backlog "
                             f"{'GROWING' if sus['backlog_growing'] else 'not growing'}"),
            lines += _observed(sus, noisy, f"{result['db']} sustained")
        prof = result.get("profile")
        if prof:
            pr = prof["per_request"]
            q = prof["queries"]
            lines.append(f"  Profile (in-process, no socket): per request bare {pr['bare']['wall_us']:.0f} us, "
                         f"DRF {pr['drf']['wall_us']:.0f} us, intake {pr['intake']['wall_us']:.0f} us; queries: intake "
                         f"{q['intake']['count']} (+{q['intake']['health_check_select_1']} health check, "
                         f"{q['intake']['connects']} connects), DRF {q['drf']['count']} "
                         f"(+{q['drf']['health_check_select_1']}, {q['drf']['connects']} connects)")
            for row in prof["components"]:
                lines.append(f"    {row['component']:50s} {row['us']:8.1f} us")
            lines.append(f"    cProfile: {prof['cprofile_file']}")
            worker = prof.get("worker") or {}
            if worker.get("jobs"):
                lines.append(f"  Worker, job_run_next in-process: {worker['wall_us']:.0f} us/job wall, "
                             f"{worker['cpu_us']:.0f} us CPU in Python, {worker['statements_per_job']} SQL statements "
                             f"taking {worker['sql_us']:.0f} us:")
                for st in worker["statements"][:8]:
                    lines.append(f"    {st['per_job']:4.1f} x {st['us_each']:7.1f} us  {st['sql']}")
        for phase, error in (result.get("errors") or {}).items():
            lines.append(f"  ! {phase} failed: {error}")
    if noisy:
        lines += ["", "  ! NOISE: other processes used >= 0.3 cores during: " + "; ".join(noisy)
                  + ". Those figures are low; run again on a quiet box."]
    for result in results:
        wh = result.get("webhooks")
        if wh and "engine_per_s" in wh:
            from bench.webhooks_fanout import render as webhooks_render

            lines += ["", webhooks_render(wh)]
        elif wh:
            lines += ["", f"  ! webhook fan-out ({result['db']}) failed: {wh.get('error')}"]
    lines += ["", "RATIOS (same run, same gunicorn / cluster settings)"]
    for result in results:
        r = ratios(result)
        db = result["db"]
        redis = (result.get("settings") or {}).get("broker") == "redis"

        def verdict(ok):
            return "OK  " if ok else "MISS"

        if "intake_vs_obvious_rps" in r:
            lines.append(f"  {db:8s} intake / obvious DRF    {r['intake_vs_obvious_rps']:5.2f}x  (req/s, alternating "
                         f"windows; by CPU per request {_f(r.get('intake_vs_obvious_cpu'), '{:.2f}')}x the obvious's "
                         f"CPU; see TARGETS)")
        if "intake_vs_drf" in r:  # context since issue 14 (unequal work: one SELECT and one INSERT)
            lines.append(f"  {db:8s} intake / minimal DRF    {r['intake_vs_drf']:5.2f}x  (info)"
                         f"   (intake / bare {r['intake_vs_bare']:.2f}x, DRF / bare {r['drf_vs_bare']:.2f}x"
                         + (f"; by CPU per request {r['intake_vs_drf_by_cpu']:.2f}x" if "intake_vs_drf_by_cpu" in r
                            else "") + ")")
        if "layer_cpu_overhead" in r:
            lines.append(f"  {db:8s} security layer on / off {r['layer_cpu_overhead'] + 1:5.2f}x  CPU per request "
                         f"({r['layer_cpu_overhead'] * 100:+.1f} %; req/s on / off "
                         f"{_f(r.get('layer_rps_on_vs_off'), '{:.2f}')}x)")
        if "redis_round_trips_per_intake" in r:
            lines.append(f"  {db:8s} Redis round trips       {r['redis_round_trips_per_intake']:5.2f}  per intake "
                         f"(obvious DRF intake: {_f(r.get('redis_round_trips_per_obvious'), '{:.2f}')})")
        if "metrics_on_vs_off" in r:
            target = TARGETS["metrics_on_vs_off"]
            lines.append(f"  {db:8s} intake metrics on / off {r['metrics_on_vs_off']:5.2f}x  target >= {target:.2f}x "
                         f"{verdict(r['metrics_on_vs_off'] >= target)}"
                         + (f"   (by CPU per request {r['metrics_on_vs_off_by_cpu']:.2f}x)"
                            if "metrics_on_vs_off_by_cpu" in r else ""))
        if "metrics_on_vs_off_in_process" in r:
            target = TARGETS["metrics_on_vs_off"]
            lines.append(f"  {db:8s} ... the same in-process  {r['metrics_on_vs_off_in_process']:5.2f}x  target >= "
                         f"{target:.2f}x {verdict(r['metrics_on_vs_off_in_process'] >= target)}   (median time per "
                         f"request; the middleware alone: {r['metrics_bare_extra_us']:+.1f} us per request)")
        if "webhooks_engine_vs_plain" in r:  # no target: the engine also claims, signs and stores each attempt
            lines.append(f"  {db:8s} webhooks engine / httpx {r['webhooks_engine_vs_plain']:5.2f}x  (info)")
        if "drain_vs_raw" in r:
            lines.append(f"  {db:8s} drain / raw django-q2   {r['drain_vs_raw']:5.2f}x  target >= "
                         f"{TARGETS['drain_vs_raw']:.1f}x  {verdict(r['drain_vs_raw'] >= TARGETS['drain_vs_raw'])}"
                         + (f"   (by CPU per item {r['drain_vs_raw_by_cpu']:.2f}x)" if "drain_vs_raw_by_cpu" in r else ""))
        if "pickup_p50_ms" in r:
            target = TARGETS["pickup_p50_ms_redis"]
            note = verdict(r["pickup_p50_ms"] <= target) if redis else "info (target applies to Redis)"
            lines.append(f"  {db:8s} pickup p50              {r['pickup_p50_ms']:5.2f} ms target <= {target:.0f} ms "
                         f"{note}")
    lines += ["", *targets.render(targets.targets_from(results))]
    idle = [f"{r['db']} {r['idle_cluster']['qcluster_cores']:.3f}" for r in results if r.get("idle_cluster")]
    if idle:
        lines.append(f"  idle cluster CPU (cores, reported, no goal: no busy loop while idle): {', '.join(idle)}")
    sustained = [r for r in results if (r.get("sustained") or {}).get("finished_per_s") is not None]
    for r in sustained:
        sus = r["sustained"]
        lines.append(f"  sustained {r['db']}: accepted {sus['accepted_per_s']}/s, finished {sus['finished_per_s']}/s over "
                     f"{sus['seconds']:.0f} s, depth {_f(sus.get('depth_early'), '{:g}')} after "
                     f"{_f(sus.get('depth_early_at_s'), '{:g}')} s -> {_f(sus.get('depth_end'), '{:g}')} at the end "
                     f"({'growing' if sus.get('backlog_growing') else 'not growing'}), intake p99 "
                     f"{_f(sus.get('intake_p99_ms'), '{:.0f}')} ms")
    return "\n".join(lines)


def git_state() -> dict:
    """Which code was measured: HEAD and the files changed beside it (others edit the tree in parallel)."""
    def git(*cmd):
        proc = subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.rstrip()  # not strip(): porcelain lines start with a status column that may be a space

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return {"head": git("rev-parse", "--short", "HEAD"), "dirty_files": dirty}


def main(argv=None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    if args.loadgen == "wrk" and not loadgen.wrk_path():
        raise SystemExit("bench: --loadgen wrk, but wrk is not installed. Install it: apt-get install -y wrk")
    resolved = args.loadgen if args.loadgen != "auto" else ("wrk" if loadgen.wrk_path() else "python")
    if resolved == "python":
        print("bench: WARNING: wrk not found (install: apt-get install -y wrk); using the Python load generator "
              "(threads + http.client). Its req/s are far below wrk's and not comparable with them.", file=sys.stderr)
    config["loadgen_resolved"] = resolved
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS / f"logs-{run_id}"
    pidfile = RESULTS / f".pids-{run_id}"
    meta = {"run_id": run_id, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(),
            "python": platform.python_version(), "loadgen": resolved, "config": config, "argv": sys.argv,
            "command": " ".join([".venv/bin/python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
            "experiments": args.experiment, "git": git_state(), "loadavg_at_start": os.getloadavg()}
    results = []
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    try:
        for db in dbs:
            print(f"bench: {db} ...", flush=True)
            results.append(run_db(db, args, config, run_id, pidfile, log_dir))
    finally:
        sweep_pidfile(str(pidfile))
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
    meta["duration_s"] = round(time.monotonic() - started, 1)
    report = render(results, meta)
    print("\n" + report)
    payload = {"meta": meta, "results": results, "ratios": {r["db"]: ratios(r) for r in results},
               "targets": targets.targets_from(results)}
    path = RESULTS / f"bench-{run_id}.json"
    path.write_text(json.dumps(payload, indent=2, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nbench: results in {path.relative_to(ROOT)} (and bench/results/latest.json); "
          f"process logs in {log_dir.relative_to(ROOT)}; {meta['duration_s']:.0f} s")
    return 1 if any(r.get("errors") for r in results) else 0


def _noisy_windows(cpu_windows: list, label: str) -> list[str]:
    """The windows in which other processes used NOISE_CORES or more, named for the NOISE list."""
    return [f"{label} window {i + 1} ({usage['other']:.2f})" for i, usage in enumerate(cpu_windows)
            if usage and usage.get("other", 0) >= NOISE_CORES]


if __name__ == "__main__":
    sys.exit(main())

