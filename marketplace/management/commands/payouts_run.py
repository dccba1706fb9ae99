"""manage.py payouts_run [--dry-run] [--limit N]: what the daily schedule does, now: transfer each
due order's partner share (Stripe Connect), with a line per order and the counts. Safe to run
again: an order is paid at most once (its payout's idempotency key)."""

from django.core.management.base import BaseCommand, CommandError

from marketplace.services.payouts import payouts_run


class Command(BaseCommand):
    help = "Transfer the partner share of every completed order whose hold is over (Stripe Connect payouts)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true",
                            help="Show what would be paid or held; claim nothing and ask Stripe nothing.")
        parser.add_argument("--limit", type=int, default=500, help="At most this many orders (default 500).")

    def handle(self, *args, **options):
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")

        def progress(order, outcome):
            self.stdout.write(f"order {order.pk} ({order.partner.name}, {order.partner_share_minor} "
                              f"{order.currency.upper()}, {'live' if order.livemode else 'test'}): {outcome}")

        summary = payouts_run(limit=options["limit"], dry_run=options["dry_run"], progress=progress)
        held = ", ".join(f"{reason}: {count}" for reason, count in sorted(summary["held_reasons"].items()))
        verb = "would be paid" if summary["dry_run"] else "paid"
        self.stdout.write(f"{summary['due']} due; {summary['paid']} {verb}, {summary['failed']} failed, "
                          f"{summary['held']} held{f' ({held})' if held else ''}, {summary['skipped']} skipped, "
                          f"{summary['reversed']} reversed.")
        if summary["stopped"]:
            raise CommandError("Stripe could not be reached: the run stopped; the rest is paid by the next run.")
