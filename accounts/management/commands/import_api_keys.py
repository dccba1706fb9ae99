import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.services.key_auth import KEY_MAX_LENGTH, KEY_MIN_LENGTH
from accounts.services.keys import api_key_import
from accounts.services.users import user_get_or_create

ENV_LISTS = ("API_KEYS", "API_KEYS_NEXT")


class Command(BaseCommand):
    help = ("Import the old service's keys from the env lists API_KEYS and API_KEYS_NEXT (comma-separated) as "
            "live keys of one user, stored hashed. Safe to run again: keys already stored are skipped.")

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The owner of the imported keys (created if new).")

    def handle(self, *args, email, **options):
        try:
            validate_email(email.strip())
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address.") from exc
        # Each list may hold a key more than once, and a key may sit in both while clients move.
        raw_keys = list(dict.fromkeys(item.strip() for name in ENV_LISTS
                                      for item in os.environ.get(name, "").split(",") if item.strip()))
        if not raw_keys:
            raise CommandError("API_KEYS and API_KEYS_NEXT are empty or unset: there is nothing to import.")
        user, created = user_get_or_create(email=email)
        imported = skipped = refused = 0
        for position, raw in enumerate(raw_keys, start=1):
            try:
                stored = api_key_import(owner=user, raw_key=raw)
            except ValueError:
                refused += 1
                # Never echo a key: say which one by its position in the lists.
                self.stderr.write(f"Key #{position} refused: it must be {KEY_MIN_LENGTH}..{KEY_MAX_LENGTH} "
                                  "printable ASCII characters without spaces.")
                continue
            if stored is None:
                skipped += 1
            else:
                imported += 1
        self.stdout.write(f"{'Created' if created else 'Found'} user {user.email}")
        self.stdout.write(f"Imported {imported} key(s), skipped {skipped} already imported, refused {refused}.")
