"""Reports leaving the building: emailed to OPS_EMAILS (or said not configured), the
report_generate command, the weekly task, and the admin's list, download and buttons."""

from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from intelligence import tasks
from intelligence.models import Report
from intelligence.services.reports import report_email, report_generate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
OPS = ["ops@levqor.test", "cto@levqor.test"]


@pytest.fixture
def ops_emails(settings):
    settings.OPS_EMAILS = OPS
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return OPS


def test_report_email_attaches_the_pdf(ops_emails):
    report = report_generate(kind="weekly")

    assert report_email(report=report) == OPS

    [message] = mail.outbox
    assert message.to == OPS and report.title in message.subject
    [(name, content, mimetype)] = message.attachments
    assert name == report.filename and name.startswith("levqor-weekly-") and name.endswith(".pdf")
    assert mimetype == "application/pdf" and content.startswith(b"%PDF") and content == bytes(report.pdf)
    assert "Users: 0 (0 new this week)" in message.body
    [(html, html_type)] = message.alternatives
    assert html_type == "text/html" and "Governance risk" in html and "100.0 (low)" in html
    report.refresh_from_db()
    assert report.emailed_to == OPS and report.emailed_at is not None and report.email_error == ""


def test_no_ops_emails_sends_nothing_and_says_so(settings):
    settings.OPS_EMAILS = []
    report = report_generate(kind="insights")

    assert report_email(report=report) == []

    assert mail.outbox == []
    report.refresh_from_db()
    assert report.email_error == "OPS_EMAILS is not set" and report.emailed_at is None


def test_a_failed_send_is_kept_on_the_row_not_raised(settings, closed_port):
    settings.OPS_EMAILS = OPS
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    report = report_generate(kind="insights")

    assert report_email(report=report) == []

    report.refresh_from_db()
    assert report.email_error.startswith("ConnectionRefusedError") and report.emailed_at is None


def test_weekly_task_generates_and_emails(ops_emails):
    result = tasks.weekly_report_email()
    report = Report.objects.get()
    assert result == {"report": report.pk, "emailed_to": OPS}
    assert report.kind == "weekly" and report.source == "schedule" and len(mail.outbox) == 1


def test_command_prints_its_steps(ops_emails):
    out = StringIO()
    call_command("report_generate", "weekly", "--email", stdout=out)
    report = Report.objects.get()
    text = out.getvalue()
    assert "Generating the weekly report." in text
    assert "- collecting figures" in text and "- rendering the PDF" in text
    assert f"Stored as Report #{report.pk}: {report.pages} page" in text and report.filename in text
    assert f"Emailed to {', '.join(OPS)}." in text
    assert report.source == "command"


def test_command_fails_loudly_when_it_cannot_email(settings):
    settings.OPS_EMAILS = []
    with pytest.raises(CommandError, match="not emailed: OPS_EMAILS is not set"):
        call_command("report_generate", "insights", "--email", stdout=StringIO())
    assert Report.objects.get().kind == "insights"  # kept: only the email failed


def test_command_refuses_an_unknown_kind():
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("report_generate", "monthly", stdout=StringIO())
    assert not Report.objects.exists()


def test_command_says_what_failed_when_rendering_fails(settings):
    settings.TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "OPTIONS": {"loaders": [
        ("django.template.loaders.locmem.Loader",
         {"reports/weekly.html": '<img src="https://example.com/x.png">'})]}}]
    with pytest.raises(CommandError, match="The weekly report failed: ReportFetchRefused"):
        call_command("report_generate", "weekly", stdout=StringIO())
    assert not Report.objects.exists()


def test_admin_lists_and_downloads_for_staff_only(operator):
    report = report_generate(kind="weekly")
    page = operator.get(reverse("admin:intelligence_report_changelist"))
    assert page.status_code == 200 and report.title.encode() in page.content
    assert b"Generate weekly governance report now" in page.content

    download = operator.get(reverse("admin:intelligence_report_download", args=[report.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"] == f'attachment; filename="{report.filename}"'
    assert download.content == bytes(report.pdf) and download.content.startswith(b"%PDF")

    someone = Client()
    someone.force_login(UserFactory(terms_accepted=True))
    refused = someone.get(reverse("admin:intelligence_report_download", args=[report.pk]))
    assert refused.status_code == 302 and reverse("admin:login") in refused["Location"]
    assert operator.get(reverse("admin:index")).content.count(b'id="reports-link"') == 1


def test_admin_generate_now_and_email_action(operator, ops_emails):
    url = reverse("admin:intelligence_report_generate", args=["insights"])
    assert operator.get(url).status_code == 405
    response = operator.post(url)
    assert response.status_code == 302
    report = Report.objects.get()
    assert report.kind == "insights" and report.source == "admin" and report.created_by == operator.user
    assert operator.post(reverse("admin:intelligence_report_generate", args=["integrity"])).status_code == 403

    changelist = reverse("admin:intelligence_report_changelist")
    operator.post(changelist, {"action": "email_to_ops", "_selected_action": [report.pk]})
    [message] = mail.outbox
    assert message.attachments[0][0] == report.filename
    report.refresh_from_db()
    assert report.emailed_to == OPS
    assert operator.get(reverse("admin:intelligence_report_change", args=[report.pk])).status_code == 200
