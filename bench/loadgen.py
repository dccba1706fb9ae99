"""HTTP load: wrk when installed (the reference), else a Python fallback (threads + http.client).

The fallback shares the GIL and the two cores with the server, so it saturates well below
what wrk reaches: its figures are printed, but flagged, and are not comparable with wrk's.
"""

import http.client
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    tool: str
    url: str
    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    non_2xx: int = 0
    socket_errors: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _loopback_only(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"bench: refusing to send load to {host!r}: loopback only")


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII text


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(output: str, *, url: str, connections: int, seconds: float) -> LoadResult:
    def find(pattern, cast=float, default=None):
        match = re.search(pattern, output, re.MULTILINE)
        return cast(match.group(1)) if match else default

    percentiles = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)\s*$", output, re.MULTILINE))
    requests = find(r"^\s*(\d+) requests in", int, 0)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return LoadResult(
        tool="wrk", url=url, connections=connections, seconds=seconds, requests=requests,
        rps=find(r"^Requests/sec:\s+([\d.]+)", float, 0.0),
        p50_ms=_ms(percentiles["50"]) if "50" in percentiles else None,
        p90_ms=_ms(percentiles["90"]) if "90" in percentiles else None,
        p99_ms=_ms(percentiles["99"]) if "99" in percentiles else None,
        non_2xx=find(r"Non-2xx or 3xx responses:\s+(\d+)", int, 0),
        socket_errors=sum(int(x) for x in socket.groups()) if socket else 0,
    )


def run_wrk(url: str, *, method: str, body: str | None, headers: dict, seconds: float, connections: int,
            threads: int) -> LoadResult:
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write("\n".join(lines) + "\n")
    try:
        argv = [wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                "--timeout", "10s", "-s", script.name, url]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=False)
    finally:
        os.unlink(script.name)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return parse_wrk(proc.stdout, url=url, connections=connections, seconds=max(1, round(seconds)))


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), math.ceil(pct / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def run_python(url: str, *, method: str, body: str | None, headers: dict, seconds: float,
               connections: int) -> LoadResult:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    payload = body.encode() if body is not None else None
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(connections)]
    counters = {"non_2xx": 0, "errors": 0}
    lock = threading.Lock()

    def worker(index: int):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = latencies[index]
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                with lock:
                    counters["errors"] += 1
                continue
            mine.append((time.perf_counter() - started) * 1000)
            if not 200 <= status < 400:
                with lock:
                    counters["non_2xx"] += 1
        conn.close()

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(seconds + 15)
    elapsed = time.monotonic() - started
    values = sorted(v for per in latencies for v in per)
    return LoadResult(
        tool="python", url=url, connections=connections, seconds=round(elapsed, 3), requests=len(values),
        rps=len(values) / elapsed if elapsed else 0.0, p50_ms=percentile(values, 50),
        p90_ms=percentile(values, 90), p99_ms=percentile(values, 99), non_2xx=counters["non_2xx"],
        socket_errors=counters["errors"],
        notes=["python load generator: GIL-bound and sharing the cores; not comparable with wrk figures"],
    )


def run_load(url: str, *, method: str = "GET", body: str | None = None, headers: dict | None = None,
             seconds: float = 10, connections: int = 32, threads: int = 2, tool: str = "auto") -> LoadResult:
    _loopback_only(url)
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("Content-Type", "application/json")
    if tool == "auto":
        tool = "wrk" if wrk_path() else "python"
    if tool == "wrk":
        if not wrk_path():
            raise SystemExit("bench: wrk is not installed (apt-get install -y wrk), and --loadgen wrk was asked for")
        return run_wrk(url, method=method, body=body, headers=headers, seconds=seconds, connections=connections,
                       threads=threads)
    return run_python(url, method=method, body=body, headers=headers, seconds=seconds, connections=connections)
