"""manage.py stripe_sync_products [--test]: each paid tier's Stripe Product and monthly Price,
found by lookup key or created, recorded as TierPrice rows. Safe to run again."""

from django.core.management.base import BaseCommand, CommandError

from levqor.errors import AppError
from marketplace.services.products import stripe_products_sync
from marketplace.stripe_api import stripe_configured


class Command(BaseCommand):
    help = "Find or create the Stripe Product and monthly Price of each paid tier and record them (TierPrice)."

    def add_arguments(self, parser):
        parser.add_argument("--test", action="store_true",
                            help="Sync the test-mode prices with STRIPE_TEST_SECRET_KEY (default: the live key).")

    def handle(self, *args, **options):
        livemode = not options["test"]
        setting = "STRIPE_SECRET_KEY" if livemode else "STRIPE_TEST_SECRET_KEY"
        if not stripe_configured(livemode=livemode):
            raise CommandError(f"Billing is not configured: {setting} is not set. Nothing was synced.")
        try:
            results = stripe_products_sync(livemode=livemode)
        except AppError as exc:
            raise CommandError(f"{exc.message} ({exc.code})") from exc
        mode = "live" if livemode else "test"
        for r in results:
            line = (f"{r.tier} ({mode}): {r.outcome} price {r.price_id} {r.lookup_key} "
                    f"{r.amount_minor} {r.currency.upper()}/month")
            self.stdout.write(line + (f" - {r.message}" if r.message else ""))
        mismatched = [r.tier for r in results if r.outcome == "mismatch"]
        if mismatched:
            raise CommandError(f"Prices that differ from the settings were not recorded: {', '.join(mismatched)}.")
