"""Real processes started by tests (gunicorn, `make run`, a django-q2 cluster): wait until one
serves, and stop it, its children included, whatever state it is in."""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest


def process_stop(proc: subprocess.Popen, *, timeout: float = 15) -> None:
    """SIGTERM (the process stops its own children), then SIGKILL to its whole process group
    (started with start_new_session=True) when it does not stop in time."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def server_wait(proc: subprocess.Popen, log: Path, base_url_in: Callable[[str], str | None], *,
                timeout: float, what: str) -> str:
    """The base URL the server's log names (base_url_in(log text), None until it does), once
    its /health answers 200; the test fails, with the log, if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        base_url = base_url_in(text)
        if base_url:
            try:
                if httpx.get(base_url + "/health", timeout=2).status_code == 200:
                    return base_url
            except httpx.HTTPError:
                pass
        if proc.poll() is not None:
            pytest.fail(f"{what} exited {proc.returncode}:\n{text}")
        time.sleep(0.05)
    pytest.fail(f"{what} did not serve in time:\n{log.read_text(errors='replace')}")
