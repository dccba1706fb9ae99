"""Starting and always stopping the processes the bench runs (gunicorn, qcluster, the per-database
suite). Each one leads its own process group, so stopping it stops its children too, and every
group is written to a pid file that the top-level run.py sweeps in its finally block even if a
suite process died without cleaning up."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIDFILE_ENV = "BENCH_PIDFILE"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _record(pgid: int) -> None:
    pidfile = os.environ.get(PIDFILE_ENV)
    if pidfile:
        with open(pidfile, "a") as fh:
            fh.write(f"{pgid}\n")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(pgid: int, *, grace: float = 10.0, leader_only_first: bool = False) -> None:
    """SIGTERM (to the leader, or the whole group), wait up to grace seconds, then SIGKILL the group."""
    try:
        if leader_only_first:
            os.kill(pgid, signal.SIGTERM)
        else:
            os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pgid, os.WNOHANG)
        if not _group_alive(pgid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def sweep_pidfile(path: str) -> None:
    """Kill whatever group a (possibly crashed) suite left behind."""
    if not path or not os.path.exists(path):
        return
    with open(path) as fh:
        pgids = {int(line) for line in fh if line.strip().isdigit()}
    for pgid in pgids:
        if _group_alive(pgid):
            kill_group(pgid, grace=3)


class Proc:
    """A child process in its own session, output to a log file, stopped by stop() (idempotent)."""

    def __init__(self, name: str, argv: list[str], *, env: dict, log_dir: Path, leader_only_term: bool = False):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, start_new_session=True)
        self.leader_only_term = leader_only_term
        _record(self.popen.pid)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        kill_group(self.popen.pid, grace=grace, leader_only_first=self.leader_only_term)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        self._log.close()

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_http_ok(url: str, *, timeout: float = 60.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # loopback only
                if response.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f} s ({last})")
