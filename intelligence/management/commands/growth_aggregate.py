from datetime import date

from django.core.management.base import BaseCommand, CommandError

from intelligence.services.growth_aggregates import growth_backfill, yesterday


class Command(BaseCommand):
    help = ("Compute the growth funnel's daily tables (retention: DAU/WAU/MAU and paying users; growth by "
            "source: visits, signups, paid, revenue) for the N days ending yesterday (UTC), then the cohort "
            "triangle. Each day's rows are replaced, so running it again gives the same tables.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=1, help="How many days, ending --through. Default 1.")
        parser.add_argument("--through", type=date.fromisoformat, default=None,
                            help="The last day (YYYY-MM-DD, UTC). Default yesterday; today's rows are partial.")

    def handle(self, *args, days, through, **options):
        if days < 1 or days > 3660:
            raise CommandError("--days must be between 1 and 3660.")
        through = through or yesterday()
        self.stdout.write(f"Aggregating {days} day{'s' if days != 1 else ''} through {through.isoformat()} (UTC).")
        growth_backfill(days=days, through=through, progress=self.stdout.write)
        self.stdout.write(self.style.SUCCESS("Done."))
