from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand

from intelligence.services.ops_summary import ops_summary_build, ops_summary_day, ops_summary_render, ops_summary_send


class Command(BaseCommand):
    help = ("Print the daily ops summary of a local day (REPORTS_TIME_ZONE; default yesterday): jobs, requests, "
            "incidents, alerts, money, users. With --send, also email it to OPS_EMAILS (as the 09:00 schedule does).")

    def add_arguments(self, parser):
        parser.add_argument("--day", type=date.fromisoformat, default=None,
                            help="The local day (YYYY-MM-DD). Default yesterday in REPORTS_TIME_ZONE.")
        parser.add_argument("--send", action="store_true", help="Email it to OPS_EMAILS.")

    def handle(self, *args, day, send, **options):
        day = day or ops_summary_day()
        self.stdout.write(f"Ops summary for {day.isoformat()} ({settings.REPORTS_TIME_ZONE}).")
        _, text, _ = ops_summary_render(ops_summary_build(day=day))
        self.stdout.write(text)
        if send:
            sent = ops_summary_send(day=day)
            if sent:
                self.stdout.write(self.style.SUCCESS(f"Sent to {len(sent)} address{'es' if len(sent) != 1 else ''}."))
            else:
                self.stdout.write(self.style.WARNING("Not sent: OPS_EMAILS is not configured."))
