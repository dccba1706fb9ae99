from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.services.keys import api_key_create
from accounts.services.users import user_get_or_create


class Command(BaseCommand):
    help = "Create an API key for a user (the user is created if new). The raw key is the last line."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--test", action="store_true", help="A test-mode key (lvk_test_...).")
        parser.add_argument("--name", default="")

    def handle(self, *args, email, test, name, **options):
        try:
            validate_email(email.strip())
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address.") from exc
        user, created = user_get_or_create(email=email)
        created_key = api_key_create(owner=user, name=name, livemode=not test)
        self.stdout.write(f"{'Created' if created else 'Found'} user {user.email}")
        self.stdout.write(f"{'Test' if test else 'Live'} key {created_key.api_key.prefix}… "
                          f"(id {created_key.api_key.pk}); it is shown once, keep it safe:")
        self.stdout.write(created_key.raw_key)
