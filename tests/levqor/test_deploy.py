"""deploy/production.env.example is what README's deployment section tells operators to run with:
`manage.py check --deploy` must pass with it, and the systemd units must use what it defines."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _production_env() -> dict[str, str]:
    """The example file's variables with its <placeholders> filled the way its comments say."""
    fills = {"<secret-key>": secrets.token_urlsafe(60), "<fernet-key>": Fernet.generate_key().decode(),
             "<password>": "pw"}
    values = {}
    for line in (DEPLOY / "production.env.example").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.partition("=")
        for placeholder, fill in fills.items():
            value = value.replace(placeholder, fill)
        assert "<" not in value, f"{name} has a placeholder the test does not know: {value}"
        values[name] = value
    return values


def _run_check(env_values: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # Nothing of the developer's (or the test run's) environment may leak into the check.
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}}
    env = {**keep, **env_values, "DJANGO_SETTINGS_MODULE": "levqor.settings", "LEVQOR_VAR_DIR": str(ROOT / "var")}
    return subprocess.run([sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env,  # noqa: S603 (our manage.py)
                          capture_output=True,
                          text=True, timeout=120)


def test_check_deploy_passes_with_the_production_settings():
    result = _run_check(_production_env(), "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_when_a_production_setting_is_dropped():
    """The check is not vacuous: the same file without its encryption key or with DEBUG on fails."""
    env = _production_env()
    del env["FIELD_ENCRYPTION_KEYS"]
    result = _run_check(env, "--deploy")
    assert result.returncode != 0 and "FIELD_ENCRYPTION_KEYS" in result.stderr
    env = {**_production_env(), "DEBUG": "1"}
    result = _run_check(env, "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0 and "security.W018" in result.stderr


def test_units_read_the_env_file_and_stop_within_a_bound():
    for unit in ("levqor-web.service", "levqor-worker.service"):
        text = (DEPLOY / unit).read_text()
        assert "EnvironmentFile=/etc/levqor/production.env" in text
        stop = re.search(r"^TimeoutStopSec=(\d+)$", text, re.M)
        assert stop and int(stop.group(1)) <= 60, unit
    assert "manage.py qcluster" in (DEPLOY / "levqor-worker.service").read_text()
