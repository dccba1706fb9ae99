"""`make run` (scripts/run.sh) for real, in a fresh embedded setup: the address it prints is the
one the sign-in links are made from, so signing in from the printed address works (session and
CSRF cookies are per host name). Starts gunicorn and the worker; marked slow."""

import email
import os
import re
import socket
import subprocess
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.processes import process_stop, server_wait

pytestmark = pytest.mark.slow

ROOT = Path(settings.BASE_DIR)
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def make_run(tmp_path):
    """scripts/run.sh on a free port with its own var/ directory; yields (printed address, log)."""
    log = tmp_path / "run.log"
    env = {key: value for key, value in os.environ.items()
           if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SITE_URL", "LEVQOR_TEST_RUN"}}
    env.update({"PORT": str(_free_port()), "LEVQOR_VAR_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"})
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ROOT / "scripts" / "run.sh")], cwd=ROOT, env=env, stdout=out,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield server_wait(proc, log, _printed_address, timeout=240, what="run.sh"), log
    finally:
        process_stop(proc, timeout=40)  # run.sh stops gunicorn and the worker itself


def _printed_address(text: str) -> str | None:
    found = re.search(r"^Levqor: web on (\S+) ", text, re.M)
    return found.group(1) if found else None


def _sign_in_link(outbox: Path, to: str) -> str:
    """The link in the newest mail to this address."""
    for path in sorted(outbox.iterdir(), key=lambda p: p.stat().st_mtime_ns, reverse=True):
        message = email.message_from_bytes(path.read_bytes())
        if to in message["To"]:
            for part in message.walk():
                if part.get_content_type() == "text/plain":
                    found = re.search(r"\S+/login/confirm\?token=\S+", part.get_payload(decode=True).decode())
                    if found:
                        return found.group(0)
    raise AssertionError(f"no sign-in mail to {to} in {outbox}")


def test_make_run_prints_the_address_the_sign_in_links_use_and_signing_in_from_it_works(make_run, tmp_path):
    address, log = make_run
    port = re.search(r":(\d+)$", address).group(1)
    assert address == f"http://127.0.0.1:{port}"
    # demo_setup's curl line, printed by the same run, names the same address.
    assert f"curl -s -X POST {address}/api/v1/intake " in log.read_text()

    # The link is asked for from the printed address and from another name of the same server:
    # both links are made from the printed address.
    for asked_at in (address, f"http://localhost:{port}"):
        with httpx.Client(base_url=asked_at, timeout=10) as other:
            page = other.get("/login")
            answer = other.post("/login", data={"email": "ada@example.com", "returnTo": "",
                                                "csrfmiddlewaretoken": CSRF.search(page.text).group(1)})
            assert answer.status_code == 200, answer.text
        link = _sign_in_link(tmp_path / "var" / "outbox", "ada@example.com")
        assert link.startswith(f"{address}/login/confirm?token="), (asked_at, link)

    with httpx.Client(base_url=address, timeout=10) as browser:  # keeps cookies per host, as a browser does

        confirm = browser.get(link)
        assert confirm.status_code == 200
        done = browser.post(link, data={"token": link.split("token=", 1)[1],
                                        "csrfmiddlewaretoken": CSRF.search(confirm.text).group(1)})
        # Signed in (the CSRF check passed with the cookie of the printed address): sent on to the
        # dashboard, or first to the terms, never back to the sign-in page.
        assert done.status_code == 302, done.text
        assert not done.headers["Location"].startswith("/login")
        # A new account meets the shipped terms first, then its dashboard.
        gate = browser.get("/dashboard")
        assert gate.status_code == 302 and gate.headers["Location"].startswith("/legal/accept-terms"), gate.headers
        terms = browser.get(gate.headers["Location"])
        version_id = re.search(r'name="version_id" value="([^"]+)"', terms.text).group(1)
        accepted = browser.post("/legal/accept-terms", data={
            "version_id": version_id, "returnTo": "/dashboard", "csrfmiddlewaretoken": CSRF.search(terms.text).group(1)})
        assert accepted.status_code == 302 and accepted.headers["Location"] == "/dashboard"
        assert browser.get("/dashboard").status_code == 200
