"""manage.py integrity_check: the stack checked end to end, each step printed as it ends."""

from django.core.management.base import BaseCommand, CommandError

from intelligence.integrity_worker import integrity_worker_here
from intelligence.services.integrity import integrity_report_create, integrity_run


class Command(BaseCommand):
    help = ("Submit a test-mode job through the API, wait for a worker to run it, verify its signed callback, "
            "revoke the key, check database, cache, broker, schedules and configuration; store the PDF evidence.")

    def add_arguments(self, parser):
        parser.add_argument("--url", help="submit through this running web server (http://host:port); "
                                          "default: in this process through Django's test client")
        parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the job and its callback")
        parser.add_argument("--worker-here", action="store_true",
                            help="run the check's job in this process (no qcluster running: a fresh deploy, CI)")
        parser.add_argument("--no-pdf", action="store_true", help="do not store the evidence PDF")

    def handle(self, *args, url=None, timeout=60, no_pdf=False, worker_here=False, **options):
        def progress(step):
            mark = self.style.SUCCESS("ok  ") if step["ok"] else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {step['name']:<22} {step['ms']:>6} ms  {step['detail']}")

        run = integrity_run(source="command", progress=progress, base_url=url, timeout=timeout,
                            worker=integrity_worker_here if worker_here else None)
        failed = [s["name"] for s in run.steps if not s["ok"]]
        summary = (f"Integrity check {'passed' if run.ok else 'FAILED'}: {len(run.steps) - len(failed)} of "
                   f"{len(run.steps)} steps ok, {sum(s['ms'] for s in run.steps)} ms (run {run.pk}).")
        if not no_pdf:
            report = integrity_report_create(run=run, source="command")
            summary += f" Evidence: report {report.pk} ({report.pages} page(s), {report.size_bytes} bytes)."
        if not run.ok:
            raise CommandError(summary + " Failed: " + ", ".join(failed) + ".")
        self.stdout.write(self.style.SUCCESS(summary))
