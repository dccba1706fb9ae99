from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services.users import demo_user_ensure


class Command(BaseCommand):
    help = "On the first run in embedded mode, create a demo user and print its test API key."

    def handle(self, *args, **options):
        if not settings.EMBEDDED_MODE:
            return
        created = demo_user_ensure(email=settings.DEMO_USER_EMAIL)
        if created is None:
            self.stdout.write(f"Demo user {settings.DEMO_USER_EMAIL} exists; make a new key with "
                              f"`.venv/bin/python manage.py create_api_key --email {settings.DEMO_USER_EMAIL} --test`.")
            return
        bar = "=" * 72
        self.stdout.write(f"{bar}\nFirst run: demo user {settings.DEMO_USER_EMAIL} created. Its test API key (shown once):\n\n"
                          f"    {created.raw_key}\n\nTry:\n  curl -s -X POST {settings.SITE_URL}/api/v1/intake "
                          f"-H 'X-Api-Key: {created.raw_key}' -H 'Content-Type: application/json' "
                          "-d '{\"workflow\":\"demo.flow\",\"payload\":{\"hello\":\"world\"}}'\n" + bar)
