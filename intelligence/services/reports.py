"""PDF reports: generated from templates/reports/ (intelligence.services.pdf), kept as Report rows
(the PDF in the database) and emailed to OPS_EMAILS as an attachment.

- weekly: the governance report for the 7 UTC days ending now (today so far and the 6 days
  before), with the ledger's 30-day money figures (intelligence.services.reports_data);
- insights: anonymised platform aggregates over 30 days, no group under 5 people
  (intelligence.services.reports_insights);
- integrity: the integrity check's evidence, made by intelligence.services.integrity.

report_email() never raises for a failed send: the row keeps the error (email_error) and the
caller carries on; with OPS_EMAILS empty nothing is sent and the row says it is not configured."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from intelligence.models import Report
from intelligence.services.pdf import pdf_pages, pdf_render
from intelligence.services.reports_data import weekly_figures, weekly_headline
from intelligence.services.reports_insights import insights_figures
from levqor.errors import AppError, ErrorCode

logger = logging.getLogger(__name__)

KINDS = (Report.Kind.WEEKLY, Report.Kind.INSIGHTS, Report.Kind.INTEGRITY)
NOT_CONFIGURED = "OPS_EMAILS is not set"


def _noop(step: str) -> None:
    pass


def _store(*, kind: str, title: str, start: datetime, end: datetime, pdf: bytes, headline: list, actor,
           source: str) -> Report:
    return Report.objects.create(kind=kind, title=title, period_start=start, period_end=end, pdf=pdf,
                                 size_bytes=len(pdf), pages=pdf_pages(pdf), headline=headline,
                                 created_by=actor if getattr(actor, "pk", None) else None, source=source[:32])


def _insights_headline(figures: dict) -> list[list[str]]:
    return [["Jobs (30 days, in groups shown)", str(figures["jobs_shown"])],
            ["Users (in tiers shown)", str(figures["users_shown"])],
            ["Published listings (in categories shown)", str(figures["listings_shown"])],
            ["Orders (30 days, in categories shown)", str(figures["orders_shown"])]]


def report_generate(*, kind: str, now: datetime | None = None, actor=None, source: str = "",
                    progress: Callable[[str], None] | None = None) -> Report:
    """Render the `kind` report as of `now` and store it: the Report row (PDF, pages, size, period).
    An unknown kind is a validation_failed error. progress(step) hears each step (the command
    prints them)."""
    progress = progress or _noop
    if kind == Report.Kind.INTEGRITY:
        from intelligence.services.integrity import integrity_report_create  # part of the integrity check
        progress("running the integrity check and rendering its evidence")
        return integrity_report_create(actor=actor, source=source)
    now = now or timezone.now()
    if kind == Report.Kind.WEEKLY:
        progress("collecting figures (7 UTC days ending now; money over 30 days)")
        figures = weekly_figures(now=now)
        start, template = figures["since"], "reports/weekly.html"
        title = f"Weekly governance report {figures['days'][0]:%d %b} - {figures['days'][-1]:%d %b %Y}"
        headline = [list(pair) for pair in weekly_headline(figures)]
    elif kind == Report.Kind.INSIGHTS:
        progress("collecting figures (30 days, groups under 5 people folded or left out)")
        figures = insights_figures(now=now)
        start, template = now - timedelta(days=figures["days"]), "reports/insights.html"
        title = f"Platform insights {start:%d %b} - {now:%d %b %Y}"
        headline = _insights_headline(figures)
    else:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown report kind {kind!r}.",
                       details={"kind": kind, "kinds": list(KINDS)})
    progress("rendering the PDF")
    pdf = pdf_render(template=template, context={**figures, "title": title, "generated_at": now})
    report = _store(kind=kind, title=title, start=start, end=now, pdf=pdf, headline=headline, actor=actor,
                    source=source)
    progress(f"stored as Report #{report.pk}, {report.pages} page(s), {report.size_bytes} bytes")
    return report


def report_email(*, report: Report) -> list[str]:
    """Email the report's PDF to OPS_EMAILS (text + HTML body with its headline figures): the
    recipients it went to. [] when OPS_EMAILS is empty (the row says it is not configured) or the
    send failed (the row keeps the error; nothing is raised, so a schedule carries on)."""
    recipients = list(settings.OPS_EMAILS)
    if not recipients:
        report.email_error = NOT_CONFIGURED
        report.save(update_fields=["email_error"])
        return []
    context = {"report": report, "headline": report.headline}
    message = EmailMultiAlternatives(
        subject=f"[Levqor] {report.title}",
        body=render_to_string("reports/email.txt", context),
        to=recipients)
    message.attach_alternative(render_to_string("reports/email.html", context), "text/html")
    message.attach(report.filename, bytes(report.pdf), "application/pdf")
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any backend's failure: recorded on the row, never past the caller
        logger.warning("report email failed", extra={"report": report.pk, "error": type(exc).__name__})
        report.email_error = f"{type(exc).__name__}: {exc}"[:500]
        report.save(update_fields=["email_error"])
        return []
    report.emailed_to, report.emailed_at, report.email_error = recipients, timezone.now(), ""
    report.save(update_fields=["emailed_to", "emailed_at", "email_error"])
    return recipients
