"""The weekly governance and insights PDFs rendered from realistic data and read back as text and
pages; nothing fetched while rendering; the first page kept as a PNG for people to look at."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import User
from intelligence.models import GrowthEvent, Report
from intelligence.services.pdf import ReportFetchRefused, pdf_pages, pdf_render, pdf_text
from intelligence.services.reports import report_generate
from levqor.errors import AppError
from tests.intelligence.reports_support import weekly_world

pytestmark = pytest.mark.django_db
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "reports"


def _text(report: Report) -> str:
    return re.sub(r"\s+", " ", pdf_text(bytes(report.pdf)))


def test_weekly_report_says_the_weeks_figures():
    expected = weekly_world(timezone.now())
    now = timezone.now()
    assert User.objects.count() == expected["users_total"]
    assert GrowthEvent.objects.filter(kind="signup").count() == expected["signups"]

    report = report_generate(kind="weekly", now=now, source="test")

    report.refresh_from_db()
    pdf = bytes(report.pdf)
    assert pdf.startswith(b"%PDF")
    assert report.kind == "weekly" and report.source == "test" and report.period_end == now
    assert report.size_bytes == len(pdf) and report.pages == pdf_pages(pdf)
    assert 1 <= report.pages <= 5
    assert (now - report.period_start).days == 6  # the 7 UTC days ending now, today included
    text = _text(report)
    assert f"{expected['users_total']} users in total" in text
    assert f"{expected['users_new']} new users this week" in text
    assert f"{expected['signups']} signups (growth funnel)" in text
    assert f"{expected['paid']} paid conversions" in text
    assert "Visits to signups (signups / visits) 50.00 %" in text  # 6 / 12
    assert f"Signups per day ({expected['signups']} this week)" in text
    assert f"Jobs submitted per day ({expected['jobs']} this week" in text
    assert f"USD {expected['revenue']} 0.00 36.00 12.50 200.00 0.00 {expected['net']} 79.87 %" in text
    assert "Score 85.0 (low)" in text and "Partners not approved 1 (100.0 %)" in text  # Acme Data is pending
    assert "Acme Data Fail" in text and "https (critical): Webhook URL is not https" in text
    assert "all delivered" not in text  # only what the audit found wrong
    assert "SLO breach: p99 over 200 ms" in text
    assert "REPORT_TEST_FLAG on on for everyone" in text and "REPORT_TEST_SWITCH off" in text
    assert "Stabilize mode: off" in text
    assert "LEVQOR-WEEKLY01 15 % low_signups" in text
    assert f"Page 1 of {report.pages}" in text
    assert dict(report.headline)["Users"] == "9 (6 new this week)"


def test_weekly_report_with_no_data_says_nothing_yet():
    report = report_generate(kind="weekly")
    text = _text(report)
    assert "0 users in total" in text
    assert "Nothing yet: no signups this week." in text
    assert "Nothing yet: no ledger entries in the last 30 days." in text
    assert "Nothing yet: no failed or warning audits this week." in text
    assert "No active discount codes." in text
    assert report.pages >= 1


def test_insights_report_renders():
    weekly_world(timezone.now())
    report = report_generate(kind="insights", source="test")
    text = _text(report)
    assert report.kind == "insights" and 1 <= report.pages <= 4
    # demo.flow: 6 distinct users, 21 jobs, all succeeded; p95 of 100..150 ms by nearest rank
    assert "demo.flow 6 21 100.0 % 150 ms" in text
    assert "sandbox 9" in text
    assert "no group of fewer than 5 people" in text


def test_an_unknown_kind_is_refused():
    with pytest.raises(AppError) as caught:
        report_generate(kind="monthly")
    assert caught.value.code.value == "validation_failed"
    assert not Report.objects.exists()


def test_rendering_fetches_nothing(settings):
    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "OPTIONS": {"loaders": [
        ("django.template.loaders.locmem.Loader",
         {"fetch.html": '<html><body><p>x</p><img src="http://127.0.0.1:1/logo.png"></body></html>',
          "css.html": '<html><head><link rel="stylesheet" href="https://example.com/a.css"></head></html>'})]}}]
    for template in ("fetch.html", "css.html"):
        with pytest.raises(ReportFetchRefused):
            pdf_render(template=template, context={})


def test_weekly_first_page_as_png():
    """Kept under test-artifacts/reports/ for people to look at (the issue asks for it)."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm is not on PATH (install poppler-utils to write the page image)")
    weekly_world(timezone.now())
    report = report_generate(kind="weekly")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "weekly.pdf").write_bytes(bytes(report.pdf))
    command = [pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(ARTIFACTS / "weekly.pdf"),
               str(ARTIFACTS / "weekly-page1")]
    subprocess.run(command, check=True, timeout=60)  # noqa: S603 (our own paths)
    image = ARTIFACTS / "weekly-page1.png"
    assert image.read_bytes().startswith(b"\x89PNG")
