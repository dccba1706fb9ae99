"""`make chaos`: a fault rehearsal across hosts (README, docs-chaos.md).

Builds a small cluster out of network namespaces joined by a bridge (10.213.0.0/24 by default):
  lqc-db  PostgreSQL (its own initdb, as the `postgres` user) and redis-server, on their own ports
  lqc-web gunicorn with the project (production settings: DEBUG off, PostgreSQL + Redis)
  lqc-w1, lqc-w2  `manage.py qcluster`, each in its own process group
submits CHAOS_JOBS (10,000) jobs of `chaos.flow` (demo.flow, each run logged to a file of its host)
through the HTTP intake with an Idempotency-Key each, and while they run kills a worker host's whole
cluster repeatedly (and stops one cleanly: SIGTERM to its process group), cuts one worker host's
link for 60 s, stops Redis for 20 s and restarts PostgreSQL once. Then it waits for the queue to
drain and prints the table and the last line
`chaos: accepted=N succeeded=N failed=N lost=N overlapping=N http500=N`; exit status 1 when the goal
(0 lost, 0 overlapping, 0 500s, every accepted job finished) is not met.

Run as root (namespaces): scripts/chaos/run.sh (which checks what it needs). `chaos.py --cleanup`
removes what a previous run left (namespaces, the bridge, their processes, temp dirs).
"""

import argparse
import collections
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PY = str(REPO / ".venv" / "bin" / "python")
GUNICORN = str(REPO / ".venv" / "bin" / "gunicorn")
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PREFIX = "lqc"
SUBNET = os.environ.get("CHAOS_SUBNET", "10.213.0")
BRIDGE = f"{PREFIX}-br0"
HOSTS = {"db": 2, "web": 3, "w1": 4, "w2": 5}
PG_PORT, REDIS_PORT, WEB_PORT = 5440, 6390, 8000
TMP_GLOB = "lqc-chaos-"

JOBS = int(os.environ.get("CHAOS_JOBS", "10000"))
SUBMIT_SECONDS = float(os.environ.get("CHAOS_SUBMIT_SECONDS", "290"))  # spread intake over the faults
CLIENT_THREADS = int(os.environ.get("CHAOS_CLIENT_THREADS", "12"))
Q_WORKERS = os.environ.get("CHAOS_Q_WORKERS", "4")
WEB_WORKERS = os.environ.get("CHAOS_WEB_WORKERS", "3")
DRAIN_DEADLINE = float(os.environ.get("CHAOS_DRAIN_SECONDS", "360"))
LEASE_SECONDS = 30 + 30  # chaos.flow = demo.flow's timeout (30 s) + JOB_LEASE_GRACE_SECONDS (30 s)


def ns(host: str) -> str:
    return f"{PREFIX}-{host}"


def addr(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}"


def sh(*argv, check=True, quiet=False, **kw):
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)  # noqa: S603 (our own commands)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- network ------------------------------------------------------------------------------------

def cleanup(run_dir: Path | None = None) -> None:
    """Remove our namespaces (killing the processes in them, by pid), the bridge and temp dirs."""
    listed = sh("ip", "netns", "list", check=False).stdout.split()
    for host in HOSTS:
        name = ns(host)
        if name not in listed:
            continue
        for _ in range(3):
            pids = [int(p) for p in sh("ip", "netns", "pids", name, check=False).stdout.split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        sh("ip", "netns", "del", name, check=False)
    if sh("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        sh("ip", "link", "del", BRIDGE, check=False)
    for host in HOSTS:  # a root-side veth left without its namespace
        if sh("ip", "link", "show", f"{ns(host)}-h", check=False).returncode == 0:
            sh("ip", "link", "del", f"{ns(host)}-h", check=False)
    tmp = Path(tempfile.gettempdir())
    for old in tmp.glob(TMP_GLOB + "*"):
        if run_dir is None or old != run_dir:
            shutil.rmtree(old, ignore_errors=True)


def network_up() -> None:
    conflicts = [line for line in sh("ip", "-o", "-4", "addr").stdout.splitlines() if f" {SUBNET}." in line]
    if conflicts:
        raise RuntimeError(f"{SUBNET}.0/24 is already in use here ({conflicts[0].strip()}); set CHAOS_SUBNET")
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for host in HOSTS:
        name = ns(host)
        sh("ip", "netns", "add", name)
        sh("ip", "link", "add", f"{name}-h", "type", "veth", "peer", "name", "eth0", "netns", name)
        sh("ip", "link", "set", f"{name}-h", "master", BRIDGE, "up")
        sh("ip", "-n", name, "addr", "add", f"{addr(host)}/24", "dev", "eth0")
        sh("ip", "-n", name, "link", "set", "eth0", "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")


def link(host: str, up: bool) -> None:
    """The host's cable: its veth's end on the bridge, down (every packet lost) or up."""
    sh("ip", "link", "set", f"{ns(host)}-h", "up" if up else "down")


# --- processes ----------------------------------------------------------------------------------

class Cluster:
    def __init__(self, run_dir: Path):
        self.run = run_dir
        self.procs: dict[str, subprocess.Popen] = {}
        self.pgdata = run_dir / "pgdata"
        self.env = self._app_env()

    def spawn(self, key: str, host: str, argv: list[str], *, env=None, user: str | None = None) -> subprocess.Popen:
        """argv in the host's namespace (and its own UTS namespace, hostname = the host), as the
        leader of a new process group."""
        logf = open(self.run / f"{key}.log", "ab")  # noqa: SIM115 (kept by the child)
        prefix = ["runuser", "-u", user, "--"] if user else []
        cmd = ["ip", "netns", "exec", ns(host), "unshare", "--uts", "sh", "-c",
               f'hostname {PREFIX}-{host} && exec "$@"', "sh", *prefix, *argv]
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,  # noqa: S603 (our own commands)
                                cwd=REPO, env=env or os.environ.copy(), start_new_session=True)
        logf.close()
        self.procs[key] = proc
        return proc

    def killpg(self, key: str, sig=signal.SIGKILL) -> None:
        proc = self.procs.get(key)
        if proc is None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    # PostgreSQL and Redis on the db host
    def pg_init(self) -> None:
        self.pgdata.mkdir()
        shutil.chown(self.run, "postgres")
        shutil.chown(self.pgdata, "postgres")
        sh("runuser", "-u", "postgres", "--", PG_BIN / "initdb", "-D", self.pgdata, "-U", "postgres",
           "--auth=trust", "-E", "UTF8", "--no-sync")
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '{addr('db')}'\nport = {PG_PORT}\n"
                       f"unix_socket_directories = '{self.run}'\nmax_connections = 200\n"
                       "shared_buffers = 64MB\n")
        with open(self.pgdata / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {SUBNET}.0/24 trust\n")

    def pg_ctl(self, *args) -> None:
        sh("ip", "netns", "exec", ns("db"), "runuser", "-u", "postgres", "--", PG_BIN / "pg_ctl", "-D", self.pgdata,
           "-l", self.run / "postgres.log", "-w", "-t", "60", *args)

    def redis_start(self) -> None:
        self.spawn("redis", "db", ["redis-server", "--bind", addr("db"), "--port", str(REDIS_PORT), "--save", "",
                                   "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.run)])
        wait_for(lambda: tcp_ok(addr("db"), REDIS_PORT), 20, "redis")

    def redis_stop(self) -> None:
        self.killpg("redis", signal.SIGTERM)

    # the app
    def _app_env(self) -> dict:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "DJANGO_"))}
        env.update({
            "DJANGO_SETTINGS_MODULE": "chaos_settings",
            "PYTHONPATH": str(REPO / "scripts" / "chaos"),
            "DATABASE_URL": f"postgres://postgres@{addr('db')}:{PG_PORT}/levqor",
            "REDIS_URL": f"redis://{addr('db')}:{REDIS_PORT}/0",
            "DEBUG": "false",
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": f"{addr('web')},localhost",
            "SITE_URL": f"http://{addr('web')}:{WEB_PORT}",
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DAILY_BUDGET": "100000",
            "RATELIMIT_WRITES_PER_IP": "1000000",
            "RATELIMIT_GLOBAL": "1000000",
            "RATELIMIT_KEY_ENTERPRISE": "1000000",
            "Q_WORKERS": Q_WORKERS,
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def host_env(self, host: str) -> dict:
        env = dict(self.env)
        var = self.run / f"var-{host}"
        var.mkdir(exist_ok=True)
        env.update({"LEVQOR_VAR_DIR": str(var), "CHAOS_HOST": host, "CHAOS_RUN_LOG": str(self.run / f"runs-{host}.jsonl")})
        return env

    def manage(self, host: str, *args) -> str:
        return sh("ip", "netns", "exec", ns(host), PY, "manage.py", *args, cwd=REPO, env=self.host_env(host)).stdout

    def web_start(self) -> None:
        self.spawn("web", "web", [GUNICORN, "levqor.wsgi", "--bind", f"{addr('web')}:{WEB_PORT}", "--workers",
                                  WEB_WORKERS, "--timeout", "30", "--graceful-timeout", "10"],
                   env=self.host_env("web"))
        wait_for(lambda: tcp_ok(addr("web"), WEB_PORT), 60, "gunicorn")

    def worker_start(self, host: str) -> None:
        self.spawn(host, host, [PY, "manage.py", "qcluster"], env=self.host_env(host))


def tcp_ok(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(check, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {seconds:.0f} s")


# --- the load -----------------------------------------------------------------------------------

def _delay_ms() -> int:
    """Most runs take 20-150 ms; one in 50 takes 2-6 s, long enough to poll for a cancel (every
    0.25 s, a database query) while a fault is on: a run blocked in that query through a link cut
    is one that could outlive its lease."""
    return random.randint(2000, 6000) if random.random() < 0.02 else random.randint(20, 150)


class Client:
    """Submits the jobs: each logical submission has one Idempotency-Key and is retried with it on
    a connection error, a timeout or a 503 (after its Retry-After; any 5xx and 429 too), until it is
    answered otherwise.
    Every answer (and every connection error) is recorded with its time."""

    def __init__(self, key: str, run_id: str, total: int, seconds: float):
        self.key, self.run_id, self.total, self.seconds = key, run_id, total, seconds
        self.answers: list[tuple[float, str, str]] = []  # (time, status or "conn:<error>", retry_after)
        self.results: dict[int, dict] = {}
        self.lock = threading.Lock()
        self.local = threading.local()
        self.stop = threading.Event()
        self.t0 = 0.0

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(addr("web"), WEB_PORT, timeout=15)
        return conn

    def _drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
        self.local.conn = None

    def submit(self, n: int) -> None:
        # Paced: submission n is due at its share of the submit window.
        due = self.t0 + self.seconds * n / self.total
        delay = due - time.time()
        if delay > 0 and self.stop.wait(delay):
            return
        idem = f"chaos-{self.run_id}-{n}"
        body = json.dumps({"workflow": "chaos.flow", "payload": {
            "chaos_run": self.run_id, "n": n, "delay_ms": _delay_ms()}})
        headers = {"X-Api-Key": self.key, "Content-Type": "application/json", "Idempotency-Key": idem}
        tries = 0
        while not self.stop.is_set():
            tries += 1
            sent = time.time()
            try:
                conn = self._conn()
                conn.request("POST", "/api/v1/intake", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status, retry_after = resp.status, resp.getheader("Retry-After") or ""
                if resp.getheader("Connection", "").lower() == "close":
                    self._drop()
            except (OSError, http.client.HTTPException) as exc:
                self._drop()
                with self.lock:
                    self.answers.append((sent, f"conn:{type(exc).__name__}", ""))
                self.stop.wait(min(0.2 * tries, 2))
                continue
            try:
                parsed = json.loads(data or b"{}")
            except ValueError:
                parsed = {}
            error = parsed.get("error", "") if isinstance(parsed, dict) else ""
            with self.lock:
                self.answers.append((sent, f"{status}" + (f" {error}" if error else ""), retry_after))
            # A 500 is counted, and retried with the same key too; 409 idempotency_in_flight: the
            # first request (cut on our side) is still being processed.
            if status >= 500 or status == 429 or status == 409:
                wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else 1.0
                self.stop.wait(min(wait, 10) * random.uniform(0.8, 1.2))
                continue
            with self.lock:
                self.results[n] = {"status": status, "job_id": parsed.get("job_id") if isinstance(parsed, dict) else None,
                                   "tries": tries, "at": time.time(), "error": error}
            return

    def run(self) -> threading.Thread:
        self.t0 = time.time() + 0.5

        def go():
            with ThreadPoolExecutor(CLIENT_THREADS) as pool:
                list(pool.map(self.submit, range(self.total)))

        thread = threading.Thread(target=go, daemon=True)
        thread.start()
        return thread


# --- the faults ---------------------------------------------------------------------------------

def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    return True


class Faults:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.windows: list[dict] = []  # {"fault", "start", "end", "host"}

    def _window(self, fault: str, start: float, end: float, **extra) -> None:
        self.windows.append({"fault": fault, "start": start, "end": end, **extra})
        log(f"{fault} {extra.get('host', '')}: {end - start:.1f} s")

    def kill_worker(self, host: str, down_seconds: float = 2.0) -> None:
        start = time.time()
        self.cluster.killpg(host, signal.SIGKILL)
        time.sleep(down_seconds)
        self.cluster.worker_start(host)
        self._window("worker_kill", start, time.time(), host=host)

    def stop_worker(self, host: str, limit: float = 45.0) -> None:
        """What a process manager does (systemd, a container runtime): SIGTERM to the cluster's whole
        process group; the time until every process of the group is gone (SIGKILL after `limit`)."""
        start = time.time()
        proc = self.cluster.procs[host]
        os.killpg(proc.pid, signal.SIGTERM)
        forced = False
        while _group_alive(proc):
            if time.time() - start > limit:
                forced = True
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                break
            time.sleep(0.1)
        stopped = time.time() - start
        self.cluster.worker_start(host)
        self._window("worker_sigterm", start, time.time(), host=host, stop_seconds=round(stopped, 1), forced=forced)

    def cut_link(self, host: str, seconds: float = 60) -> None:
        start = time.time()
        link(host, False)
        log(f"link of {host} down for {seconds:.0f} s")
        time.sleep(seconds)
        link(host, True)
        self._window("link_cut", start, time.time(), host=host)

    def redis_outage(self, seconds: float = 20) -> None:
        start = time.time()
        self.cluster.redis_stop()
        log(f"redis stopped for {seconds:.0f} s")
        time.sleep(seconds)
        self.cluster.redis_start()
        self._window("redis_stop", start, time.time(), host="db")

    def pg_restart(self) -> None:
        start = time.time()
        self.cluster.pg_ctl("restart", "-m", "fast")
        self._window("pg_restart", start, time.time(), host="db")

    def schedule(self, t0: float, stop: threading.Event) -> None:
        """The timeline from t0 (the start of the intake): five kills 15-20 s apart (both worker hosts
        in turn), a clean stop of w2 (SIGTERM to its group), then w1's link cut for 60 s (w2 killed
        twice meanwhile), Redis stopped for 20 s, PostgreSQL restarted, all while jobs are still
        being submitted."""
        def at(offset):
            delay = t0 + offset - time.time()
            if delay > 0:
                stop.wait(delay)
            return not stop.is_set()

        t = 15.0
        for i in range(5):
            if not at(t):
                return
            self.kill_worker("w1" if i % 2 == 0 else "w2")
            t += random.uniform(15, 20)
        if not at(t):
            return
        self.stop_worker("w2")  # a clean stop, as a process manager sends it
        t = max(t + 15, time.time() - t0 + 5)
        if not at(t):
            return
        cut = threading.Thread(target=self.cut_link, args=("w1", 60))
        cut.start()
        for offset in (20, 40):
            if at(t + offset):
                self.kill_worker("w2")
        cut.join()
        t += 70
        if at(t):
            self.redis_outage(20)
        t += 35
        if at(t):
            self.pg_restart()


# --- the result ---------------------------------------------------------------------------------

def read_runs(run_dir: Path) -> list[dict]:
    runs = []
    for path in run_dir.glob("runs-*.jsonl"):
        for line in path.read_text().splitlines():
            try:
                runs.append(json.loads(line))
            except ValueError:
                pass  # a line cut by a kill -9 mid-write
    return runs


def db_query(sql: str, params=()):
    import psycopg

    with psycopg.connect(host=addr("db"), port=PG_PORT, user="postgres", dbname="levqor", connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def job_counts(run_id: str) -> dict[str, int]:
    rows = db_query("SELECT status, count(*) FROM jobs_job WHERE payload->>'chaos_run' = %s GROUP BY status", (run_id,))
    return dict(rows)


def analyse(run_id: str, run_dir: Path, client: Client, faults: Faults, drained_at: float | None) -> dict:
    jobs = db_query("SELECT id::text, status, attempts, (payload->>'n')::int, idempotency_key, "
                    "extract(epoch from finished_at) FROM jobs_job WHERE payload->>'chaos_run' = %s", (run_id,))
    events = db_query("SELECT e.job_id::text, e.kind, e.attempt, extract(epoch from e.at) FROM jobs_jobevent e "
                      "JOIN jobs_job j ON j.id = e.job_id WHERE j.payload->>'chaos_run' = %s "
                      "AND e.kind IN ('started', 'lease_expired', 'retry_scheduled')", (run_id,))
    by_status = collections.Counter(status for _, status, *_ in jobs)
    server_ids = {job_id for job_id, *_ in jobs}
    per_n = collections.Counter(n for _, _, _, n, _, _ in jobs)
    client_ok = {n: r for n, r in client.results.items() if r["status"] == 202}
    client_ids = {r["job_id"] for r in client_ok.values()}
    final = {"succeeded", "failed", "cancelled"}
    lost = sorted(job_id for job_id, status, *_ in jobs if status not in final)

    # Runs, from the hosts' logs: (job, attempt) -> start/end.
    runs: dict[tuple[str, int], dict] = {}
    for rec in read_runs(run_dir):
        run = runs.setdefault((rec["job"], rec["attempt"]), {"host": rec["host"]})
        run[rec["ev"]] = rec["t"]
        if rec["ev"] == "end":
            run["outcome"] = rec.get("outcome")
    started_at = {(j, a): t for j, kind, a, t in events if kind == "started"}
    expired = {(j, a): t for j, kind, a, t in events if kind == "lease_expired"}
    retried = {(j, a): t for j, kind, a, t in events if kind == "retry_scheduled"}
    by_job: dict[str, list] = collections.defaultdict(list)
    for (job, attempt), run in runs.items():
        if "start" not in run:
            continue
        lease_end = float(started_at.get((job, attempt), run["start"])) + LEASE_SECONDS
        run.update(job=job, attempt=attempt, lease_end=lease_end, until=run.get("end", lease_end))
        by_job[job].append(run)
    rerun_jobs = {job: sorted(rs, key=lambda r: r["start"]) for job, rs in by_job.items() if len(rs) > 1}
    reruns = after_expiry = after_retry = 0
    not_after_expiry = []
    overlaps = []
    past_lease = []
    for job, rs in by_job.items():
        rs.sort(key=lambda r: r["start"])
        for prev, run in zip(rs, rs[1:], strict=False):
            reruns += 1
            exp = expired.get((job, prev["attempt"]))
            retry = retried.get((job, prev["attempt"]))
            if exp is not None and float(exp) <= run["start"]:
                after_expiry += 1
            elif retry is not None and float(retry) <= run["start"]:
                after_retry += 1  # the attempt's end was recorded as a transient failure (a timeout...)
            else:
                not_after_expiry.append({"job": job, "attempt": run["attempt"]})
        for i, a in enumerate(rs):
            if "end" in a and a["end"] > a["lease_end"]:
                past_lease.append({"job": job, "attempt": a["attempt"], "host": a["host"],
                                   "over_s": round(a["end"] - a["lease_end"], 1)})
            for b in rs[i + 1:]:
                if b["start"] < a["until"]:
                    overlaps.append({"job": job, "a": [a["attempt"], a["host"], a["start"], a["until"]],
                                     "b": [b["attempt"], b["host"], b["start"], b["until"]]})
    rerun_delays = sorted(round(b["start"] - a["start"], 1) for rs in rerun_jobs.values()
                          for a, b in zip(rs, rs[1:], strict=False))
    # How long after the lease ran out the job ran again (goal: within 10 s, whatever the backlog).
    after_lease = sorted(round(b["start"] - a["lease_end"], 1) for rs in rerun_jobs.values()
                         for a, b in zip(rs, rs[1:], strict=False))

    # Intake answers per fault window, and recovery after each.
    ok_times = sorted(t for t, s, _ in client.answers if s.startswith("202"))
    ends_by_host = collections.defaultdict(list)
    for run in runs.values():
        if "end" in run:
            ends_by_host[run["host"]].append(run["end"])
    all_ends = sorted(t for ts in ends_by_host.values() for t in ts)
    for ts in ends_by_host.values():
        ts.sort()

    def first_after(times, t):
        return next((round(x - t, 2) for x in times if x >= t), None)

    windows = []
    for w in faults.windows:
        answers = collections.Counter()
        retry_after_missing = 0
        for t, s, ra in client.answers:
            if w["start"] <= t <= w["end"]:
                answers[s] += 1
                if s.startswith("503") and not ra:
                    retry_after_missing += 1
        on_host = w["fault"] in ("worker_kill", "worker_sigterm", "link_cut")
        host_ends = ends_by_host.get(w.get("host"), []) if on_host else all_ends
        windows.append({**{k: v for k, v in w.items() if k not in ("start", "end")},
                        "fault": w["fault"], "host": w.get("host"), "at_s": round(w["start"] - client.t0, 1),
                        "seconds": round(w["end"] - w["start"], 1), "answers": dict(answers),
                        "503_without_retry_after": retry_after_missing,
                        "first_intake_ok_after_s": first_after(ok_times, w["end"]),
                        "first_job_finished_after_s": first_after(host_ends, w["end"])})
    all_answers = collections.Counter(s.split(" ")[0] if not s.startswith("conn") else "conn_error"
                                      for _, s, _ in client.answers)
    http500 = sum(c for s, c in all_answers.items() if s.startswith("5") and s != "503")
    return {
        "run_id": run_id, "jobs_submitted": client.total,
        "accepted": len(server_ids),
        "accepted_client": len(client_ok),
        "client_not_answered_202": {str(n): r for n, r in client.results.items() if r["status"] != 202},
        "client_never_answered": client.total - len(client.results),
        "server_jobs_unknown_to_client": len(server_ids - client_ids),
        "client_ids_missing_on_server": len(client_ids - server_ids),
        "duplicate_jobs_per_submission": sum(c - 1 for c in per_n.values() if c > 1),
        "succeeded": by_status.get("succeeded", 0), "failed": by_status.get("failed", 0),
        "cancelled": by_status.get("cancelled", 0), "lost": len(lost), "lost_ids": lost[:20],
        "runs_logged": sum(1 for r in runs.values() if "start" in r),
        "jobs_run_more_than_once": len(rerun_jobs), "reruns": reruns, "reruns_after_expired_lease": after_expiry,
        "reruns_after_recorded_retry": after_retry,
        "reruns_unexplained": not_after_expiry[:20], "reruns_unexplained_count": len(not_after_expiry),
        "rerun_delay_s": {"min": rerun_delays[0], "median": rerun_delays[len(rerun_delays) // 2],
                          "max": rerun_delays[-1]} if rerun_delays else None,
        "rerun_after_lease_expiry_s": {"min": after_lease[0], "median": after_lease[len(after_lease) // 2],
                                       "max": after_lease[-1]} if after_lease else None,
        "reruns_later_than_lease_plus_10s": sum(1 for d in after_lease if d > 10),
        "overlapping": len(overlaps), "overlaps": overlaps[:20],
        "runs_ended_past_their_lease": past_lease[:20], "runs_ended_past_their_lease_count": len(past_lease),
        "http500": http500, "answers": dict(all_answers),
        "answers_detail": dict(collections.Counter(s for _, s, _ in client.answers)),
        "faults": windows,
        "drain_seconds_after_intake_end": drained_at,
    }


def print_table(r: dict) -> None:
    rows = [("jobs submitted (logical)", r["jobs_submitted"]),
            ("accepted (server: jobs of this run)", r["accepted"]),
            ("accepted (client: 202 answers)", r["accepted_client"]),
            ("  server jobs unknown to the client", r["server_jobs_unknown_to_client"]),
            ("  client job ids missing on the server", r["client_ids_missing_on_server"]),
            ("  duplicate jobs for one submission", r["duplicate_jobs_per_submission"]),
            ("  submissions never answered / answered non-202", f"{r['client_never_answered']} / "
                                                                f"{len(r['client_not_answered_202'])}"),
            ("succeeded", r["succeeded"]), ("failed", r["failed"]), ("cancelled", r["cancelled"]),
            ("lost (accepted, never finished)", r["lost"]),
            ("runs logged by the workflow", r["runs_logged"]),
            ("jobs run more than once", r["jobs_run_more_than_once"]),
            ("re-runs / after an expired lease / after a recorded retry / neither",
             f"{r['reruns']} / {r['reruns_after_expired_lease']} / {r['reruns_after_recorded_retry']} / "
             f"{r['reruns_unexplained_count']}"),
            ("re-run delay from first start (s)", json.dumps(r["rerun_delay_s"])),
            ("re-run delay after the lease ran out (s)", json.dumps(r["rerun_after_lease_expiry_s"])),
            ("re-runs later than lease + 10 s", r["reruns_later_than_lease_plus_10s"]),
            ("overlapping runs", r["overlapping"]),
            ("runs that ended past their lease", r["runs_ended_past_their_lease_count"]),
            ("HTTP 500s", r["http500"]),
            ("intake answers (all)", json.dumps(r["answers"])),
            ("drain: queue empty after intake end (s)", r["drain_seconds_after_intake_end"])]
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print()
    print(f"{'fault':<12} {'host':<4} {'at s':>6} {'dur s':>6}  {'intake ok after s':>17} {'job done after s':>16}  answers")
    for w in r["faults"]:
        print(f"{w['fault']:<12} {w['host'] or '':<4} {w['at_s']:>6} {w['seconds']:>6}  "
              f"{str(w['first_intake_ok_after_s']):>17} {str(w['first_job_finished_after_s']):>16}  "
              f"{json.dumps(w['answers'])}"
              + (f" (503 without Retry-After: {w['503_without_retry_after']})" if w["503_without_retry_after"] else "")
              + (f" (group stopped {w['stop_seconds']} s after SIGTERM{', SIGKILLed' if w['forced'] else ''})"
                 if "stop_seconds" in w else ""))
    print()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cleanup", action="store_true", help="only remove what a previous run left")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("chaos: needs root (network namespaces)", file=sys.stderr)
        return 2
    cleanup()
    if args.cleanup:
        return 0
    run_dir = Path(tempfile.mkdtemp(prefix=TMP_GLOB))
    run_dir.chmod(0o755)
    stopping = threading.Event()

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    cluster = Cluster(run_dir)
    client = None
    run_id = uuid.uuid4().hex[:12]
    result = None
    started = time.time()
    try:
        network_up()
        log(f"network up: {', '.join(f'{ns(h)}={addr(h)}' for h in HOSTS)} on {BRIDGE} ({run_dir})")
        cluster.pg_init()
        cluster.pg_ctl("start")
        sh(PG_BIN / "createdb", "-h", addr("db"), "-p", PG_PORT, "-U", "postgres", "levqor")
        cluster.redis_start()
        log("postgresql and redis up on the db host; migrating")
        cluster.manage("web", "migrate", "--noinput", "-v0")
        out = cluster.manage("web", "create_api_key", "--email", "chaos@levqor.test", "--name", "chaos")
        api_key = out.strip().splitlines()[-1]
        cluster.manage("web", "shell", "-c", "from accounts.models import User; "
                       "User.objects.filter(email='chaos@levqor.test').update(tier='enterprise')")
        cluster.web_start()
        for host in ("w1", "w2"):
            cluster.worker_start(host)
        time.sleep(3)
        log(f"web and two worker hosts up; submitting {JOBS} jobs over ~{SUBMIT_SECONDS:.0f} s (run {run_id})")
        client = Client(api_key, run_id, JOBS, SUBMIT_SECONDS)
        faults = Faults(cluster)
        intake = client.run()
        fault_thread = threading.Thread(target=faults.schedule, args=(client.t0, stopping), daemon=True)
        fault_thread.start()
        last = 0.0
        while intake.is_alive():
            intake.join(5)
            if time.time() - last > 20:
                last = time.time()
                try:
                    counts = job_counts(run_id)
                except Exception as exc:  # noqa: BLE001 (the db may be restarting)
                    counts = f"({type(exc).__name__})"
                log(f"submitted {len(client.results)}/{JOBS}; jobs {counts}")
        intake_end = time.time()
        fault_thread.join()
        log("intake done; waiting for the queue to drain")
        deadline = time.time() + DRAIN_DEADLINE
        drained_at = None
        while time.time() < deadline:
            try:
                counts = job_counts(run_id)
            except Exception:  # noqa: BLE001
                time.sleep(2)
                continue
            open_jobs = counts.get("queued", 0) + counts.get("running", 0)
            if open_jobs == 0:
                drained_at = round(time.time() - intake_end, 1)
                break
            if time.time() - last > 20:
                last = time.time()
                log(f"draining: {counts}")
            time.sleep(2)
        if drained_at is None:
            log("drain deadline passed")
        client.stop.set()
        time.sleep(1)
        result = analyse(run_id, run_dir, client, faults, drained_at)
        result["wall_seconds"] = round(time.time() - started, 1)
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        stopping.set()
        if client is not None:
            client.stop.set()  # its threads end (the interpreter waits for them)
        if result is not None:
            # The table, and the hosts' logs and run logs beside it (the temp dir goes).
            out_dir = REPO / "var" / "chaos"
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.mkdir(parents=True)
            for src in [*run_dir.glob("*.log"), *run_dir.glob("*.jsonl")]:
                shutil.copy(src, out_dir / src.name)
            (out_dir / "latest.json").write_text(json.dumps(result, indent=2, default=str))
        for key in list(cluster.procs):
            cluster.killpg(key, signal.SIGKILL)
        cleanup()
    if result is None:
        print("chaos: accepted=0 succeeded=0 failed=0 lost=0 overlapping=0 http500=0 (not run to the end)")
        return 1
    print_table(result)
    print(f"(table as JSON: var/chaos/latest.json, logs beside it; {result['wall_seconds']} s)")
    goal = (result["lost"] == 0 and result["overlapping"] == 0 and result["http500"] == 0
            and result["succeeded"] + result["failed"] + result["cancelled"] == result["accepted"]
            and result["accepted"] == result["accepted_client"] == result["jobs_submitted"]
            and result["server_jobs_unknown_to_client"] == 0 and result["duplicate_jobs_per_submission"] == 0
            and result["reruns_unexplained_count"] == 0)
    print(f"chaos: accepted={result['accepted']} succeeded={result['succeeded']} failed={result['failed']} "
          f"lost={result['lost']} overlapping={result['overlapping']} http500={result['http500']}")
    return 0 if goal else 1


if __name__ == "__main__":
    sys.exit(main())
