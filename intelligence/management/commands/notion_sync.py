from django.core.management.base import BaseCommand, CommandError

from intelligence.services.notion import GROUPS, NotionUnavailable, notion_sync


class Command(BaseCommand):
    help = ("Sync Levqor's rows to the Notion databases now: health, costs, pulse, registry (partners, "
            "catalog, audit) or all. Each database's run is logged (admin: Notion sync runs); a database "
            "that is not configured is skipped and says why. Exits non-zero when Notion kept failing.")

    def add_arguments(self, parser):
        parser.add_argument("what", nargs="?", default="all", choices=list(GROUPS))

    def handle(self, *args, what, **options):
        failed = []
        for database in GROUPS[what]:
            self.stdout.write(f"{database}: syncing...")
            try:
                run = notion_sync(database=database, source="command")
            except NotionUnavailable as error:
                failed.append(database)
                self.stderr.write(f"{database}: failed, Notion unavailable: {error}")
                continue
            counts = (f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
                      f"{run.failed} failed, {run.requests} requests")
            line = f"{database}: {run.outcome}: {counts}" if run.outcome != "skipped" else f"{database}: skipped: {run.error}"
            if run.error and run.outcome != "skipped":
                line += f" ({run.error})"
            self.stdout.write(line)
        if failed:
            raise CommandError(f"Notion sync failed for {', '.join(failed)}.")
        self.stdout.write(self.style.SUCCESS("Done."))
