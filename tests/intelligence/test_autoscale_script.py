"""scripts/autoscale_workers.sh, the plain alternative to KEDA: it reads GET /ops/autoscale/metrics
from a running server with an operator's key and starts or stops worker units (a stand-in
systemctl on PATH records what it was asked) so that exactly 1..desired_workers run."""

import os
import shutil
import subprocess
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from intelligence.models import AutoscaleDecision
from tests.factories import api_key_for

BASH = shutil.which("bash") or "/bin/bash"
SCRIPT = Path(settings.BASE_DIR) / "scripts" / "autoscale_workers.sh"
FAKE_SYSTEMCTL = textwrap.dedent("""\
    #!/bin/sh
    # is-active --quiet UNIT | start UNIT | stop UNIT, over a directory of running units
    case "$1" in
      is-active) test -e "$STATE/$3" ;;
      start) echo "start $2" >> "$STATE/log"; touch "$STATE/$2" ;;
      stop) echo "stop $2" >> "$STATE/log"; rm -f "$STATE/$2" ;;
    esac
    """)


@pytest.fixture
def host(tmp_path):
    """A worker host: the stand-in systemctl and the directory of its running units."""
    state = tmp_path / "units"
    state.mkdir()
    systemctl = tmp_path / "systemctl"
    systemctl.write_text(FAKE_SYSTEMCTL)
    systemctl.chmod(0o755)
    return state, systemctl


def _decide(desired):
    """A decision later than those before it (the latest wins)."""
    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10 - AutoscaleDecision.objects.count())
    AutoscaleDecision.objects.create(at=minute, minute=minute, action="scale_up", desired_workers=desired,
                                     previous_workers=1, reason="test", metrics={})


def _run(live_server, host, key_file, **env):
    state, systemctl = host
    (state / "log").unlink(missing_ok=True)
    result = subprocess.run(  # noqa: S603 (our own script)
        [BASH, str(SCRIPT)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "LEVQOR_URL": live_server.url, "LEVQOR_API_KEY_FILE": str(key_file),
             "SYSTEMCTL": str(systemctl), "STATE": str(state), "LEVQOR_WORKERS_CAP": "5", **env})
    log = (state / "log").read_text().split("\n")[:-1] if (state / "log").exists() else []
    running = sorted(p.name for p in state.iterdir() if p.name != "log")
    return result, log, running


def test_the_script_keeps_as_many_workers_as_wanted(live_server, host, tmp_path, transactional_db):
    _, raw = api_key_for(scopes=["admin:read"])
    key_file = tmp_path / "key"
    key_file.write_text(raw)
    _decide(3)
    result, log, running = _run(live_server, host, key_file)
    assert result.returncode == 0, result.stderr
    assert log == ["start levqor-worker@1", "start levqor-worker@2", "start levqor-worker@3"]
    assert running == ["levqor-worker@1", "levqor-worker@2", "levqor-worker@3"]
    assert raw not in result.stdout + result.stderr

    result, log, running = _run(live_server, host, key_file)  # nothing changed: nothing done
    assert (result.returncode, log) == (0, [])

    _decide(1)
    result, log, running = _run(live_server, host, key_file)
    assert log == ["stop levqor-worker@2", "stop levqor-worker@3"] and running == ["levqor-worker@1"]

    _decide(9)  # more than the host's cap of 5
    result, log, running = _run(live_server, host, key_file)
    assert running == [f"levqor-worker@{n}" for n in range(1, 6)]


def test_without_an_answer_it_changes_nothing(live_server, host, tmp_path, transactional_db):
    _, customer = api_key_for()  # no admin:read: 403
    key_file = tmp_path / "key"
    key_file.write_text(customer)
    _decide(3)
    result, log, running = _run(live_server, host, key_file)
    assert result.returncode == 1 and "could not be read; workers left as they are" in result.stderr
    assert (log, running) == ([], [])
