"""The README's signed-request examples (docs/partner_signing_example.py and .sh, included verbatim
in the README's "Signed partner API" section) run as written against a live server."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.partners.signed_support import credential_make

ROOT = Path(settings.BASE_DIR)
PYTHON_EXAMPLE = ROOT / "docs" / "partner_signing_example.py"
SHELL_EXAMPLE = ROOT / "docs" / "partner_signing_example.sh"
SECTION = "## Signed partner API"

pytestmark = pytest.mark.django_db(transaction=True)


def _documentation() -> str:
    return (ROOT / "README.md").read_text()


def test_the_documentation_shows_the_examples_verbatim():
    text = _documentation()
    assert SECTION in text
    assert f"```python\n{PYTHON_EXAMPLE.read_text()}```" in text
    assert f"```bash\n{SHELL_EXAMPLE.read_text()}```" in text


@pytest.fixture
def partner_env(live_server):
    credential, secret = credential_make()
    env = {**os.environ, "LEVQOR_BASE_URL": live_server.url, "LEVQOR_KEY_ID": credential.key_id,
           "LEVQOR_SECRET": secret}
    return credential, env


@pytest.mark.parametrize("command", [[sys.executable, str(PYTHON_EXAMPLE)], ["bash", str(SHELL_EXAMPLE)]],
                         ids=["python", "curl-openssl"])
def test_the_example_makes_a_signed_request_that_is_accepted(partner_env, command):
    credential, env = partner_env
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert done.returncode == 0, (done.stdout, done.stderr)
    lines = done.stdout.strip().splitlines()
    status = lines[0] if command[0] == sys.executable else lines[-1]
    assert status == "200", done.stdout
    assert f'"partner_id":"{credential.partner_id}"' in done.stdout
    assert f'"key_id":"{credential.key_id}"' in done.stdout


def test_the_example_with_a_wrong_secret_is_refused(partner_env):
    credential, env = partner_env
    done = subprocess.run(["bash", str(SHELL_EXAMPLE)], env={**env, "LEVQOR_SECRET": "lps_wrong"},  # noqa: S603, S607
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and '"error":"signature_invalid"' in done.stdout
