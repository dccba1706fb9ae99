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


FERNET_KEY = "m3O9yq0bQm1v3V0mJ8xq9o5b0yV8QWm7r0o8xw9S3xA="  # a fixed test key (Fernet: 32 bytes, base64)


@pytest.mark.parametrize("secret, ok", [("", False), ("x" * 60, True)])
def test_production_refuses_to_start_without_secret_key(secret, ok, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/levqor",
           "LEVQOR_VAR_DIR": str(tmp_path), "SECRET_KEY": secret, "FIELD_ENCRYPTION_KEYS": FERNET_KEY}
    result = _check(env)
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "levqor.E001" in result.stderr


@pytest.mark.parametrize("keys, ok", [("", False), (FERNET_KEY, True)])
def test_production_refuses_to_start_without_field_encryption_keys(keys, ok, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/levqor",
           "LEVQOR_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 60, "FIELD_ENCRYPTION_KEYS": keys}
    result = _check(env)
    assert (result.returncode == 0) is ok, result.stderr
    if not ok:
        assert "levqor.E004" in result.stderr


def test_embedded_mode_keeps_a_generated_secret_between_starts(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "LEVQOR_VAR_DIR": str(tmp_path)}
    assert _check(env).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert len(first) >= 50 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
    assert _check(env).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first


def _site_url(env, tmp_path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SITE_URL)"], cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "LEVQOR_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "levqor.settings",
             **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("env, expected", [
    ({}, "http://127.0.0.1:8000"),
    ({"PORT": "9123"}, "http://127.0.0.1:9123"),  # PORT=9123 make run
    ({"PORT": "9123", "SITE_URL": "https://levqor.example.com/"}, "https://levqor.example.com"),
])
def test_site_url_defaults_to_the_address_make_run_serves(env, expected, tmp_path):
    assert _site_url(env, tmp_path) == expected


@pytest.mark.parametrize("env, code", [
    ({"SITE_URL": "levqor.example.com"}, "levqor.E003"),
    ({"SITE_URL": "https://levqor.example.com/app"}, "levqor.E003"),
    ({"SITE_URL": "ftp://levqor.example.com"}, "levqor.E003"),
    ({"SITE_URL": "http://box.local:8000"}, "levqor.W002"),  # not in ALLOWED_HOSTS
    ({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/levqor", "SECRET_KEY": "x" * 60,
      "FIELD_ENCRYPTION_KEYS": FERNET_KEY}, "levqor.W001"),
])
def test_a_site_url_that_would_break_links_is_reported(env, code, tmp_path):
    result = _check({"PATH": "/usr/bin:/bin", "LEVQOR_VAR_DIR": str(tmp_path), **env})
    assert code in result.stderr, result.stderr
    assert (result.returncode == 0) is code.startswith("levqor.W")


@pytest.mark.parametrize("env", [
    {},
    {"SITE_URL": "https://levqor.example.com", "ALLOWED_HOSTS": "levqor.example.com"},
    {"SITE_URL": "http://[::1]:8000"},
    {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/levqor", "SECRET_KEY": "x" * 60, "FIELD_ENCRYPTION_KEYS": FERNET_KEY,
     "SITE_URL": "https://levqor.example.com", "ALLOWED_HOSTS": "levqor.example.com"},
])
def test_a_good_site_url_passes_the_checks_quietly(env, tmp_path):
    result = _check({"PATH": "/usr/bin:/bin", "LEVQOR_VAR_DIR": str(tmp_path), **env})
    assert result.returncode == 0 and "SITE_URL" not in result.stderr, result.stderr
