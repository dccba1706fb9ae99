"""manage.py ledger_backfill --days 30 [--skip-stripe]

Fills the profit ledger for past days: each finished UTC day's AI cost from the jobs (a line per
day: recorded, or there already), then the Stripe money of the live invoice.paid /
charge.refunded events processed in those days that the ledger misses (the daily reconcile, over
a longer window). Safe to run again: it adds nothing that is there."""

from django.core.management.base import BaseCommand, CommandError

from intelligence.services.ledger_costs import ledger_ai_cost_days
from intelligence.services.ledger_stripe import ledger_stripe_reconcile
from levqor.money import minor_display
from marketplace.stripe_api import stripe_configured


class Command(BaseCommand):
    help = "Record past days' AI cost and missing Stripe money in the profit ledger (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="How many finished days back (1..3650). Default 30.")
        parser.add_argument("--skip-stripe", action="store_true", help="Only the AI cost; do not ask Stripe.")

    def handle(self, *args, days, skip_stripe, **options):
        if not 1 <= days <= 3650:
            raise CommandError("--days is 1..3650")
        self.stdout.write(f"AI cost of the last {days} finished UTC days (live-mode jobs, USD):")

        def progress(entry, created):
            state = "recorded" if created else "already recorded"
            self.stdout.write(f"  {entry.day}  {minor_display(entry.amount_minor, entry.currency):>10} "
                              f"{entry.currency}  {state} ({entry.memo})")

        new = ledger_ai_cost_days(days=days, progress=progress)
        self.stdout.write(f"AI cost: {new} day(s) recorded, {days - new} there already.")
        if skip_stripe:
            return
        if not stripe_configured(livemode=True):
            self.stdout.write("Stripe: STRIPE_SECRET_KEY is not set; live Stripe money was not checked.")
            return
        summary = ledger_stripe_reconcile(days=days)
        self.stdout.write(f"Stripe: {summary['events']} live event(s) of the last {days} days, {summary['asked']} "
                          f"charge(s) asked about, {summary['recorded']} entr{'y' if summary['recorded'] == 1 else 'ies'}"
                          f" recorded, {summary['failed']} failed.")
        if summary["stopped"]:
            raise CommandError("Stripe could not be reached; run again later (nothing recorded twice).")
