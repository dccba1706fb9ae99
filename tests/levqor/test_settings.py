import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_environment_variable_is_documented_in_env_example():
    used = set()
    for path in [ROOT / "levqor" / "settings.py", ROOT / "scripts" / "run.sh"]:
        text = path.read_text()
        used |= set(re.findall(r'env_(?:bool|list|decimal|quota)\("([A-Z_]+)"', text))
        used |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', text))
        used |= set(re.findall(r"\$\{([A-Z_]+):-", text))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert used, "found no settings: the pattern is broken"
    assert used - documented == set()


def _check(env):
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("secret, ok", [("", False), ("x" * 60, True)])
def test_production_refuses_to_start_without_secret_key(secret, ok, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/levqor",
           "LEVQOR_VAR_DIR": str(tmp_path), "SECRET_KEY": secret}
    result = _check(env)
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "levqor.E001" in result.stderr


def test_embedded_mode_keeps_a_generated_secret_between_starts(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LEVQOR_VAR_DIR": str(tmp_path)}
    assert _check(env).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert len(first) >= 50 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    assert _check(env).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
