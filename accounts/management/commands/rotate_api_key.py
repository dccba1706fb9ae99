from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey
from accounts.services.keys import ROTATION_GRACE_MAX_SECONDS, ROTATION_GRACE_SECONDS, ApiKeyNotUsable, api_key_rotate


class Command(BaseCommand):
    help = ("Rotate an API key: print a new key (the last line) and let the old one work for the grace "
            "period, then stop.")

    def add_arguments(self, parser):
        parser.add_argument("--key-id", required=True, help="The key's id (see the admin or GET /api/v1/keys).")
        parser.add_argument("--grace-seconds", type=int, default=ROTATION_GRACE_SECONDS,
                            help=f"How long the old key keeps working; 0 stops it now. Default {ROTATION_GRACE_SECONDS}.")

    def handle(self, *args, key_id, grace_seconds, **options):
        if not 0 <= grace_seconds <= ROTATION_GRACE_MAX_SECONDS:
            raise CommandError(f"--grace-seconds must be between 0 and {ROTATION_GRACE_MAX_SECONDS}.")
        try:
            old = ApiKey.objects.select_related("owner").get(pk=key_id)
        except (ApiKey.DoesNotExist, ValidationError) as exc:
            raise CommandError(f"There is no API key with id {key_id!r}.") from exc
        try:
            created = api_key_rotate(api_key=old, grace_seconds=grace_seconds, actor=None, details={"via": "command"})
        except ApiKeyNotUsable as exc:
            raise CommandError(f"Key {old.prefix}… is revoked or expired; make a new one with create_api_key.") from exc
        self.stdout.write(f"Rotated {old.prefix}… of {old.owner.email}; the old key stops at "
                          f"{old.expires_at:%Y-%m-%d %H:%M:%S} UTC.")
        self.stdout.write(f"New key {created.api_key.prefix}… (id {created.api_key.pk}); it is shown once, keep it safe:")
        self.stdout.write(created.raw_key)
