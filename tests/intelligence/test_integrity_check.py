"""Issue 13 §4: the integrity check runs one test-mode job end to end through the real stack (the
API, a worker, the signed callback to its own receiver, the key revoked), checks the parts under
it, stores every step, and leaves a PDF as evidence; anything broken fails the run, the command
exits non-zero and a critical alert is raised."""

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import ApiKey
from intelligence.integrity_worker import integrity_worker_here
from intelligence.models import Alert, IntegrityRun, Report
from intelligence.services.integrity import (
    INTEGRITY_EMAIL,
    STEP_NAMES,
    integrity_report_create,
    integrity_run,
)
from intelligence.services.pdf import pdf_pages, pdf_text
from jobs.models import Job
from levqor.schedules import schedule_ensure, schedules_declared
from tests.conftest import UNREACHABLE_REDIS_CACHE
from tests.jobs.support import tasks_drain

# The callback and the worker's tasks go out after commits, as in production.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def schedules_present():
    # A transactional test starts from an emptied database: the schedules migrate wrote are restored.
    for spec in schedules_declared().values():
        schedule_ensure(spec)


def _worker(job_id):
    """The cluster's worker, in this process: run what django-q2 was given (run tokens, callbacks)."""
    tasks_drain()


def test_a_full_run_passes_every_step_and_leaves_pdf_evidence():
    seen = []
    run = integrity_run(source="test", progress=seen.append, timeout=20, worker=_worker)

    assert [s["name"] for s in run.steps] == list(STEP_NAMES)
    assert all(s["ok"] for s in run.steps), [s for s in run.steps if not s["ok"]]
    assert run.ok and seen == run.steps and all(isinstance(s["ms"], int) for s in run.steps)
    details = {s["name"]: s["detail"] for s in run.steps}
    assert "in-process (Django test client)" in details["job submitted"]
    assert "verified" in details["callback verified"]
    assert "401" in details["key revoked"]
    assert "not configured" in details["sentry"]  # informational, not a failure
    run.refresh_from_db()
    assert run.ok and run.finished_at and len(run.steps) == len(STEP_NAMES)

    job = Job.objects.get(owner__email=INTEGRITY_EMAIL)
    assert (job.status, job.livemode, job.callback_status) == ("succeeded", False, "delivered")
    assert ApiKey.objects.get(owner__email=INTEGRITY_EMAIL).revoked_at is not None
    assert not Alert.objects.filter(dedup_key="integrity_check").exists()

    report = integrity_report_create(run=run, source="test")
    run.refresh_from_db()
    assert run.report == report and report.kind == Report.Kind.INTEGRITY
    pdf = bytes(report.pdf)
    text = pdf_text(pdf)
    assert pdf_pages(pdf) >= 1 and report.pages == pdf_pages(pdf) and report.size_bytes == len(pdf)
    assert "PASSED" in text and all(name in text for name in STEP_NAMES)
    assert "sqlite" in text or "postgresql" in text


def test_the_worker_here_runs_the_check_s_own_job():
    # What the scheduled task does in a cluster of one worker: this process runs the job, then sends
    # its callback with the engine's code.
    run = integrity_run(source="test", timeout=20, worker=integrity_worker_here)
    assert run.ok, [s for s in run.steps if not s["ok"]]


def test_a_job_no_worker_runs_fails_the_run_and_raises_the_critical_alert():
    run = integrity_run(source="test", timeout=0.5)
    failed = {s["name"]: s["detail"] for s in run.steps if not s["ok"]}
    assert not run.ok
    assert set(failed) == {"job run", "callback verified"}
    assert "queued after" in failed["job run"] and "qcluster" in failed["job run"]
    assert failed["callback verified"] == "not checked: the step before it failed"
    # The key is revoked even so, and the parts under the stack were still checked.
    assert ApiKey.objects.get(owner__email=INTEGRITY_EMAIL).revoked_at is not None
    alert = Alert.objects.get(dedup_key="integrity_check")
    assert (alert.severity, alert.status) == ("critical", "open")
    assert "job run" in alert.body

    # A second failed run counts on the same alert.
    integrity_run(source="test", timeout=0.2)
    alert.refresh_from_db()
    assert alert.count == 2 and Alert.objects.filter(dedup_key="integrity_check").count() == 1


def test_a_cache_out_of_reach_fails_its_step():
    with override_settings(CACHES={"default": UNREACHABLE_REDIS_CACHE}):  # Django re-reads CACHES
        run = integrity_run(source="test", timeout=5, worker=_worker)
    failed = {s["name"]: s["detail"] for s in run.steps if not s["ok"]}
    assert "cache" in failed and not run.ok
    assert Alert.objects.filter(dedup_key="integrity_check", severity="critical").exists()


def test_the_command_prints_each_step_and_stores_the_evidence(capsys):
    call_command("integrity_check", "--timeout", "20", "--worker-here")
    out = capsys.readouterr().out.splitlines()
    steps = [line for line in out if line.startswith(("ok", "FAIL"))]
    assert [line.split()[1] for line in steps][:2] == ["job", "job"]
    assert len(steps) == len(STEP_NAMES) and all(line.startswith("ok") for line in steps)
    assert all(" ms " in line for line in steps)
    assert out[-1].startswith("Integrity check passed: 11 of 11 steps ok") and "Evidence: report" in out[-1]
    run = IntegrityRun.objects.get(source="command")
    assert run.report and run.report.kind == "integrity"


def test_the_command_exits_non_zero_on_failure_and_no_pdf_stores_none(capsys):
    with pytest.raises(CommandError, match="Integrity check FAILED.*Failed: job run, callback verified"):
        call_command("integrity_check", "--timeout", "0.3", "--no-pdf")
    out = capsys.readouterr().out
    assert "FAIL job run" in out
    assert not Report.objects.exists()


@override_settings(OUTBOUND_ALLOW_PRIVATE=False, WEBHOOK_HTTPS_ONLY=True)
def test_in_production_only_the_check_s_own_receiver_is_opened(fake_server):
    # Production refuses http and private targets; the check opens its own 127.0.0.1 port for its run.
    run = integrity_run(source="test", timeout=20, worker=_worker)
    assert run.ok, [s for s in run.steps if not s["ok"]]
    # Any other loopback target stays refused: another port, a forged or expired grant, no grant.
    from levqor.outbound import OutboundTargetRefused, outbound_receiver_url, outbound_url_check

    port = int(fake_server.url.rsplit(":", 1)[1])
    granted = outbound_receiver_url(port=port, seconds=60)
    outbound_url_check(granted + "/callback")
    refused = [fake_server.url + "/x", granted.replace(f":{port}/", f":{port + 1}/") + "/callback",
               granted[:-2] + "xx/callback", outbound_receiver_url(port=port, seconds=-1) + "/callback",
               granted.replace("http://", "https://")]
    for url in refused:
        with pytest.raises(OutboundTargetRefused):
            outbound_url_check(url)


def test_through_a_running_web_server_with_url(live_server, capsys):
    call_command("integrity_check", "--url", live_server.url, "--timeout", "20", "--worker-here", "--no-pdf")
    out = capsys.readouterr().out
    assert f"HTTP to {live_server.url}" in out and "Integrity check passed" in out


def test_the_scheduled_task_in_a_cluster_of_one_worker_runs_the_job_itself(monkeypatch):
    from django_q.conf import Conf

    from intelligence.tasks import integrity_check_run

    monkeypatch.setattr(Conf, "WORKERS", 1)  # the only worker is the one running the check
    assert integrity_check_run() is True
    run = IntegrityRun.objects.get(source="schedule")
    assert run.ok and run.report.source == "schedule" and run.report.kind == "integrity"
    assert "worker code run by this process" in run.steps[1]["detail"]
