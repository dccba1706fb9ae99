"""Where an intake request's time goes, measured in-process through Django's WSGI handler (the same
code gunicorn calls, without the socket): time per request beside the baselines, the SQL each
request sends, hidden round trips (connection health checks, reconnects), inclusive time per
component, and a cProfile (or pyinstrument, if installed) of many intake requests.

Run by bench/suite.py (phase `profile`), inside the benchmark's own database. Wrappers are
installed on this process's modules only, for the length of the measurement.
"""

import cProfile
import io
import pstats
import statistics
import sys
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from pathlib import Path

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

RESULTS = Path(__file__).resolve().parent / "results"


def _environ(method: str, path: str, body: bytes | None, headers: dict) -> dict:
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000", "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body or b""), "wsgi.errors": sys.stderr, "wsgi.multithread": False,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    if body is not None:
        env["CONTENT_TYPE"] = "application/json"
        env["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


class Client:
    def __init__(self):
        self.handler = WSGIHandler()

    def call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> int:
        status = []
        response = self.handler(_environ(method, path, body, headers or {}),
                                lambda s, h, exc_info=None: status.append(s))
        try:
            for _ in response:
                pass
        finally:
            response.close()  # request_finished: what gunicorn triggers after each response
        return int(status[0].split()[0])


class Timers:
    """Inclusive wall time and call count per label, by wrapping attributes for a while."""

    def __init__(self):
        self.total = defaultdict(float)
        self.calls = defaultdict(int)

    @contextmanager
    def wrap(self, owner, attr: str, label: str):
        original = getattr(owner, attr)
        timers = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timers.total[label] += time.perf_counter() - started
                timers.calls[label] += 1

        setattr(owner, attr, timed)
        try:
            yield
        finally:
            setattr(owner, attr, original)


def _per_request(fn, n: int) -> dict:
    wall = time.perf_counter()
    cpu = time.process_time()
    for _ in range(n):
        fn()
    return {"wall_us": round((time.perf_counter() - wall) / n * 1e6, 1),
            "cpu_us": round((time.process_time() - cpu) / n * 1e6, 1)}


def run(*, raw_key: str, body: str, requests: int = 1000, log=print) -> dict:
    from django_q import tasks as q_tasks
    from rest_framework.renderers import JSONRenderer

    from accounts.services import key_auth
    from jobs import api, dispatch, services
    from jobs.models import Job, JobEvent

    client = Client()
    payload = body.encode()
    key = {"X-Api-Key": raw_key}
    calls = {
        "bare": lambda: client.call("GET", "/bench/bare"),
        "drf": lambda: client.call("POST", "/bench/drf", payload, key),
        "intake": lambda: client.call("POST", "/api/v1/intake", payload, key),
    }
    expected = {"bare": 200, "drf": 202, "intake": 202}
    for name, fn in calls.items():
        for _ in range(50):  # warm caches, imports, the key cache, the broker connection
            status = fn()
        if status != expected[name]:
            raise RuntimeError(f"profile: {name} answered {status}")

    out: dict = {"requests": requests, "vendor": connection.vendor}
    out["per_request"] = {name: _per_request(fn, requests) for name, fn in calls.items()}
    log(f"profile: in-process time per request {out['per_request']}")

    # SQL per request, and the round trips Django's query log does not show.
    hidden = defaultdict(int)
    wrapper_cls = type(connections["default"])
    originals = {"is_usable": wrapper_cls.is_usable, "connect": wrapper_cls.connect}

    def counting(name):
        def counted(self, *args, **kwargs):
            hidden[name] += 1
            return originals[name](self, *args, **kwargs)
        return counted

    out["queries"] = {}
    for name in ("drf", "intake"):
        hidden.clear()
        wrapper_cls.is_usable = counting("is_usable")
        wrapper_cls.connect = counting("connect")
        try:
            with CaptureQueriesContext(connection) as ctx:
                calls[name]()
        finally:
            wrapper_cls.is_usable, wrapper_cls.connect = originals["is_usable"], originals["connect"]
        out["queries"][name] = {
            "count": len(ctx.captured_queries),
            "sql": [q["sql"][:160] for q in ctx.captured_queries],
            "health_check_select_1": hidden["is_usable"], "connects": hidden["connect"],
        }
    log(f"profile: intake sends {out['queries']['intake']['count']} queries "
        f"(+{out['queries']['intake']['health_check_select_1']} health check), "
        f"DRF baseline {out['queries']['drf']['count']}")

    # Inclusive time per component of the intake path.
    timers = Timers()
    broker_cls = type(dispatch._broker())
    with ExitStack() as stack:
        for owner, attr, label in [
            (key_auth, "api_key_authenticate", "auth: api_key_authenticate (cache get/add)"),
            (api, "api_key_authenticate_request", "auth (fast path): api_key_authenticate_request"),
            (api, "intake_parse", "intake_parse (json + 2 jsonschema validations)"),
            (services, "job_create", "job_create (whole transaction + on_commit)"),
            (services, "spend_reserve", "  spend_reserve (UPDATE daily spend)"),
            (Job, "save", "  Job INSERT (Model.save)"),
            (JobEvent, "save", "  JobEvent INSERT (Model.save)"),
            (connection, "commit", "  COMMIT"),
            (dispatch, "run_tokens_push", "  run token (in the transaction or after it)"),
            (q_tasks.SignedPackage, "dumps", "    django-q2 pickle + sign"),
            (broker_cls, "enqueue", "    broker.enqueue"),
            (JSONRenderer, "render", "render JSON response"),
        ]:
            stack.enter_context(timers.wrap(owner, attr, label))
        started = time.perf_counter()
        for _ in range(requests):
            calls["intake"]()
        elapsed = time.perf_counter() - started
    components = [{"component": "whole request (WSGI handler)", "us": round(elapsed / requests * 1e6, 1)}]
    for label, total in timers.total.items():
        components.append({"component": label, "us": round(total / requests * 1e6, 1),
                           "calls_per_request": round(timers.calls[label] / requests, 2)})
    out["components"] = components
    for row in components:
        log(f"profile:   {row['component']:48s} {row['us']:8.1f} us")

    # A function-level profile of the intake, saved beside the results.
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        calls["intake"]()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    path = RESULTS / f"profile-intake-{connection.vendor}-{stamp}.txt"
    path.write_text(text.getvalue())
    out["cprofile_file"] = str(path)
    try:
        from pyinstrument import Profiler
    except ImportError:
        out["pyinstrument"] = "not installed (optional: .venv/bin/pip install pyinstrument)"
    else:
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(requests):
            calls["intake"]()
        profiler.stop()
        path = RESULTS / f"profile-intake-{connection.vendor}-{stamp}.pyinstrument.txt"
        path.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
        out["pyinstrument_file"] = str(path)
    log(f"profile: cProfile written to {out['cprofile_file']}")
    out["worker"] = worker_profile(requests=min(requests, 500), log=log)
    return out


def worker_profile(*, requests: int, log=print) -> dict:
    """What one job costs a worker: jobs.execution.job_run_next in-process on the queued jobs the
    intake profile left behind, with the time of each SQL statement (the django-q2 task around it,
    and its per-task connection check, are not included)."""
    from jobs.execution import job_run_next

    stats: dict[str, list] = defaultdict(lambda: [0, 0.0])

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = stats[" ".join(sql.split()[:4])[:70]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    done = 0
    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(timed):
        for _ in range(requests):
            if job_run_next() is None:
                break
            done += 1
    if not done:
        return {"jobs": 0}
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    statements = [{"sql": sql, "per_job": round(count / done, 2), "us_each": round(total / count * 1e6, 1)}
                  for sql, (count, total) in sorted(stats.items(), key=lambda kv: -kv[1][1])]
    sql_us = sum(total for _, total in stats.values()) / done * 1e6
    out = {"jobs": done, "wall_us": round(wall / done * 1e6, 1), "cpu_us": round(cpu / done * 1e6, 1),
           "sql_us": round(sql_us, 1), "statements_per_job": round(sum(c for c, _ in stats.values()) / done, 2),
           "statements": statements}
    log(f"profile: worker job_run_next {out['wall_us']:.0f} us/job wall ({out['cpu_us']:.0f} us CPU in Python), "
        f"{out['statements_per_job']} statements/job taking {out['sql_us']:.0f} us")
    return out


def metrics_cost_in_process(*, raw_key: str, body: str, intake_pairs: int, bare_pairs: int, log=print) -> dict:
    """The live metrics' cost without the socket and wrk's noise: two WSGI handlers in this process,
    one built with METRICS_ENABLED off (its middleware chain has no metrics middleware), called in
    turn request by request (off then on, then on then off, ...), each request timed: whatever the
    box does meanwhile falls on both alike. Median and mean microseconds per request, on the intake
    and on the bare view (whose difference is the middleware's own cost)."""
    from django.conf import settings

    enabled = settings.METRICS_ENABLED
    try:
        settings.METRICS_ENABLED = False
        clients = {"off": Client()}
        settings.METRICS_ENABLED = True
        clients["on"] = Client()
    finally:
        settings.METRICS_ENABLED = enabled
    data, headers = body.encode(), {"X-Api-Key": raw_key}
    calls = {"intake": lambda c: c.call("POST", "/api/v1/intake", data, headers),
             "bare": lambda c: c.call("GET", "/bench/bare")}
    for client in clients.values():  # warm both: imports, the key cache, prepared statements
        for call in calls.values():
            for _ in range(20):
                call(client)
    out: dict = {"intake_pairs": intake_pairs, "bare_pairs": bare_pairs}
    for name, pairs in (("intake", intake_pairs), ("bare", bare_pairs)):
        call, times = calls[name], {"off": [], "on": []}
        for i in range(pairs):
            for state in (("off", "on") if i % 2 == 0 else ("on", "off")):
                started = time.perf_counter()
                call(clients[state])
                times[state].append((time.perf_counter() - started) * 1e6)
        for state, values in times.items():
            out[f"{name}_{state}"] = round(statistics.median(values), 1)
            out[f"{name}_{state}_mean"] = round(statistics.fmean(values), 1)
    # Medians: a SQLite checkpoint or a garbage collection lands on either state and moves a mean by 10 %.
    out["intake_on_vs_off"] = round(out["intake_off"] / out["intake_on"], 3)  # as throughput
    out["bare_extra_us"] = round(out["bare_on"] - out["bare_off"], 1)
    out["intake_extra_us"] = round(out["intake_on"] - out["intake_off"], 1)
    log(f"metrics cost in-process: intake median {out['intake_off']} us off / {out['intake_on']} us on (means "
        f"{out['intake_off_mean']} / {out['intake_on_mean']}); bare view {out['bare_off']} / {out['bare_on']} us")
    return out
