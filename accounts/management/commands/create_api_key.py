from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.models import DEFAULT_SCOPES, OPERATOR_SCOPE, SCOPES, User, email_normalise
from accounts.services.keys import api_key_create
from accounts.services.users import user_get_or_create


def scopes_parse(value: str) -> list[str]:
    """'jobs:read, admin:read' -> ["jobs:read", "admin:read"]: known scopes only, each once, in order."""
    scopes = list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise CommandError(f"Unknown scope{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                           f"the scopes are {', '.join(SCOPES)}.")
    if not scopes:
        raise CommandError(f"--scopes needs at least one of {', '.join(SCOPES)}.")
    return scopes


class Command(BaseCommand):
    help = "Create an API key for a user (the user is created if new). The raw key is the last line."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument("--test", action="store_true", help="A test-mode key (lvk_test_...).")
        parser.add_argument("--name", default="")
        parser.add_argument("--scopes", default=None,
                            help=f"Comma-separated, from {', '.join(SCOPES)}. Default: {','.join(DEFAULT_SCOPES)}.")

    def handle(self, *args, email, test, name, scopes, **options):
        try:
            validate_email(email.strip())
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address.") from exc
        chosen = scopes_parse(scopes) if scopes is not None else None
        if chosen and OPERATOR_SCOPE in chosen:
            # Asked before the user is made: a new user is never staff.
            existing = User.objects.filter(email__iexact=email_normalise(email)).first()
            if existing is None or not (existing.is_staff and existing.is_active):
                raise CommandError(f"Only Levqor staff may hold a key with {OPERATOR_SCOPE}: "
                                   f"{email.strip()} is {'not staff' if existing else 'not a user yet'}. "
                                   "Make them staff first (admin, or createsuperuser), then run this again.")
        user, created = user_get_or_create(email=email)
        created_key = api_key_create(owner=user, name=name, livemode=not test, scopes=chosen)
        self.stdout.write(f"{'Created' if created else 'Found'} user {user.email}")
        self.stdout.write(f"{'Test' if test else 'Live'} key {created_key.api_key.prefix}… "
                          f"(id {created_key.api_key.pk}, scopes {', '.join(created_key.api_key.scopes)}); "
                          "it is shown once, keep it safe:")
        self.stdout.write(created_key.raw_key)
