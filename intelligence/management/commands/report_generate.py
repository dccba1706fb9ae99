from django.core.management.base import BaseCommand, CommandError

from intelligence.services.reports import KINDS, report_email, report_generate
from levqor.errors import AppError


class Command(BaseCommand):
    help = ("Generate a PDF report and keep it as a Report row (admin: Intelligence > Reports): weekly (the "
            "governance report for the 7 UTC days ending now), insights (anonymised aggregates over 30 days) "
            "or integrity (runs the integrity check and keeps its evidence). --email sends it to OPS_EMAILS.")

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=[str(kind) for kind in KINDS])
        parser.add_argument("--email", action="store_true", help="Email the PDF to OPS_EMAILS afterwards.")

    def handle(self, *args, kind, email, **options):
        self.stdout.write(f"Generating the {kind} report.")
        try:
            report = report_generate(kind=kind, source="command", progress=lambda step: self.stdout.write(f"- {step}"))
        except AppError as exc:
            raise CommandError(f"The {kind} report failed: {exc.message}") from exc
        except Exception as exc:  # rendering or the database: say what failed, exit non-zero
            raise CommandError(f"The {kind} report failed: {type(exc).__name__}: {exc}") from exc
        self.stdout.write(f"Stored as Report #{report.pk}: {report.pages} page{'s' if report.pages != 1 else ''}, "
                          f"{report.size_bytes / 1024:.1f} KB ({report.filename}).")
        if email:
            sent = report_email(report=report)
            if not sent:
                raise CommandError(f"Report #{report.pk} was stored but not emailed: {report.email_error}")
            self.stdout.write(f"Emailed to {', '.join(sent)}.")
        self.stdout.write(self.style.SUCCESS("Done."))
