from django.core.management.base import BaseCommand, CommandError

from levqor.crypto import SecretUnreadable, secrets_reencrypt_all


class Command(BaseCommand):
    help = ("Re-encrypt every stored secret (webhook signing secrets, partner credentials) with the first "
            "key of FIELD_ENCRYPTION_KEYS. Run it after putting a new key first; drop the old key only after.")

    def handle(self, *args, **options):
        def progress(label, done, total):
            self.stdout.write(f"  {label}: {done}/{total}")

        try:
            counts = secrets_reencrypt_all(progress=progress)
        except SecretUnreadable as exc:
            raise CommandError(f"{exc} Put the key it was made with back into FIELD_ENCRYPTION_KEYS.") from exc
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} row{'s' if count != 1 else ''} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {sum(counts.values())} rows with the first key."))
