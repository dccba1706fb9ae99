"""Webhook fan-out: events emitted to 10 local HTTP endpoints and delivered by the engine's own
task function (levqor.webhooks.tasks.webhook_deliver: claim, sign, POST through the SSRF-guarded
transport, store the attempt, settle), on worker threads as django-q2's workers would call it,
against plain httpx posts of the same bodies to the same servers, in the same run, on the same
threads. The ratio is engine deliveries/s over plain posts/s.

    .venv/bin/python bench/webhooks_fanout.py                    # 2,000 events x 10 endpoints, embedded SQLite
    .venv/bin/python bench/webhooks_fanout.py --events 200       # quicker
    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/webhooks_fanout.py

Run alone it uses a fresh SQLite file in a temporary directory; bench/run.py runs it per database
with that run's fresh stores (phase "webhooks"). The receivers run in another process (so they do
not share the bench's GIL) and answer 200 at once.
"""

import argparse
import json
import logging
import multiprocessing
import os
import queue
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _serve(ports_out, stop, count: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

        def do_POST(self):  # noqa: N802  (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Handler) for _ in range(count)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports_out.put([s.server_address[1] for s in servers])
    stop.wait()


def _setup() -> None:
    if "DATABASE_URL" not in os.environ and "SQLITE_PATH" not in os.environ:
        tmp = tempfile.mkdtemp(prefix="levqor-bench-webhooks-")
        os.environ.update({"SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"), "LEVQOR_VAR_DIR": tmp})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levqor.settings")
    # The receivers are on 127.0.0.1, over http: allowed here, as in the tests.
    os.environ["OUTBOUND_ALLOW_PRIVATE"] = "1"
    os.environ["WEBHOOK_HTTPS_ONLY"] = "0"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    # One INFO line per request from httpx would cost both sides alike and flood the output.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _run_threads(work: list, threads: int, fn) -> float:
    """Call fn(item) for every item on `threads` threads; the wall time in seconds."""
    from django.db import connections

    items = queue.SimpleQueue()
    for item in work:
        items.put(item)
    errors = []

    def loop():
        try:
            while True:
                try:
                    item = items.get_nowait()
                except queue.Empty:
                    return
                fn(item)
        except Exception as exc:  # reported, not swallowed
            errors.append(repr(exc))
        finally:
            connections.close_all()

    started = time.perf_counter()
    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} worker thread(s) failed: {errors[0]}")
    return time.perf_counter() - started


def measure(*, events: int, endpoints: int, threads: int) -> dict:
    import httpx

    from accounts.models import User
    from levqor.webhooks.endpoints import webhook_endpoint_create
    from levqor.webhooks.models import WebhookDelivery
    from levqor.webhooks.services import webhook_event_emit
    from levqor.webhooks.tasks import webhook_deliver

    ports_out, stop = multiprocessing.Queue(), multiprocessing.Event()
    server = multiprocessing.Process(target=_serve, args=(ports_out, stop, endpoints), daemon=True)
    server.start()
    try:
        ports = ports_out.get(timeout=30)
        owner = User.objects.create_user(email=f"bench-webhooks-{time.time_ns()}@example.com")
        for port in ports:
            webhook_endpoint_create(owner=owner, url=f"http://127.0.0.1:{port}/hook", event_types=["job.completed"])
        # The events are emitted before the clock starts (their hand-over to a broker is not measured:
        # the threads below take the place of the workers).
        started = time.perf_counter()
        ids = []
        for n in range(events):
            ids += [str(d.pk) for d in webhook_event_emit(owner=owner, audience="account", event_type="job.completed",
                                                          data={"job": n, "status": "succeeded", "pad": "x" * 200})]
        emit_s = time.perf_counter() - started
        deliveries = list(WebhookDelivery.objects.filter(pk__in=ids).values_list("url", "body"))

        local = threading.local()

        def plain_post(item):
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(timeout=5)
            url, body = item
            response = client.post(url, content=body.encode(), headers={"content-type": "application/json"})
            response.raise_for_status()

        plain_post(deliveries[0])  # connections warm alike
        baseline_s = _run_threads(deliveries, threads, plain_post)
        engine_s = _run_threads(ids, threads, webhook_deliver)
        delivered = WebhookDelivery.objects.filter(pk__in=ids, status="delivered").count()
        from django.db import connection

        result = {
            "vendor": connection.vendor, "events": events, "endpoints": endpoints, "deliveries": len(ids),
            "threads": threads, "emit_s": round(emit_s, 2), "delivered": delivered,
            "engine_s": round(engine_s, 2), "engine_per_s": round(len(ids) / engine_s, 1),
            "plain_httpx_s": round(baseline_s, 2), "plain_httpx_per_s": round(len(deliveries) / baseline_s, 1),
        }
        result["engine_vs_plain"] = round(result["engine_per_s"] / result["plain_httpx_per_s"], 3)
        if delivered != len(ids):
            result["error"] = f"only {delivered} of {len(ids)} deliveries were delivered"
        return result
    finally:
        stop.set()
        server.join(timeout=5)
        if server.is_alive():
            server.terminate()


def render(r: dict) -> str:
    return (f"Webhook fan-out ({r['vendor']}): {r['events']} events x {r['endpoints']} endpoints = {r['deliveries']} "
            f"deliveries on {r['threads']} threads (emitted in {r['emit_s']} s)\n"
            f"    engine (webhook_deliver)   {r['engine_per_s']:9.1f}/s  in {r['engine_s']} s, "
            f"{r['delivered']} delivered\n"
            f"    plain httpx posts          {r['plain_httpx_per_s']:9.1f}/s  in {r['plain_httpx_s']} s\n"
            f"    engine / plain httpx       {r['engine_vs_plain']:9.3f}x"
            + (f"\n    ! {r['error']}" if r.get("error") else ""))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--endpoints", type=int, default=10)
    p.add_argument("--threads", type=int, default=4, help="worker threads (default 4, the cluster's workers)")
    p.add_argument("--out", help="also write the result as JSON here")
    args = p.parse_args(argv)
    _setup()
    result = measure(events=args.events, endpoints=args.endpoints, threads=args.threads)
    print(render(result), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 1 if result.get("error") else 0


if __name__ == "__main__":
    sys.exit(main())
