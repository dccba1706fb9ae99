"""manage.py sentry_test: send one test event to Sentry and say whether it was accepted."""

import time
import uuid

import sentry_sdk
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from sentry_sdk.transport import HttpTransport

from levqor.sentry import sentry_init

FLUSH_SECONDS = 10


class _WatchedTransport(HttpTransport):
    """The SDK's own HTTP transport, sending as usual, keeping what its public hooks report: every
    envelope handed to it and every drop (a network error, a non-2xx answer such as 429 or 500, a
    full queue, a rate-limit backoff)."""

    def __init__(self, options):
        super().__init__(options)
        self.envelopes = 0
        self.drops: list[str] = []

    def capture_envelope(self, envelope):
        self.envelopes += 1
        super().capture_envelope(envelope)

    def on_dropped_event(self, reason):
        self.drops.append(reason)
        return super().on_dropped_event(reason)

    def record_lost_event(self, reason, data_category=None, item=None, *, quantity=1):
        if reason == "ratelimit_backoff":  # dropped before sending: no on_dropped_event for these
            self.drops.append(reason)
        return super().record_lost_event(reason, data_category, item, quantity=quantity)


class Command(BaseCommand):
    help = "Send a test event to Sentry (SENTRY_DSN) and report whether Sentry accepted it."

    def handle(self, *args, **options):
        if not settings.SENTRY_DSN:
            raise CommandError("Sentry is not configured (SENTRY_DSN is not set).")
        sentry_init(transport=_WatchedTransport)
        client = sentry_sdk.get_client()
        transport = client.transport
        marker = uuid.uuid4().hex[:12]
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("levqor.sentry_test", marker)
            event_id = sentry_sdk.capture_message(f"Levqor sentry_test {marker}: a test event, nothing is wrong.",
                                                  level="info")
        # flush() returns once the SDK's queue is empty (the send answered or failed) or at the timeout:
        # returning before it means the outcome is known.
        started = time.monotonic()
        sentry_sdk.flush(timeout=FLUSH_SECONDS)
        timed_out = time.monotonic() - started >= FLUSH_SECONDS - 0.05
        where = f"environment {settings.SENTRY_ENVIRONMENT}, tag levqor.sentry_test={marker}"
        if event_id is None or not transport.envelopes:
            raise CommandError(f"Sentry did not accept the test event: the SDK did not send it ({where}).")
        if timed_out:
            raise CommandError(f"Sentry did not answer within {FLUSH_SECONDS} s: the test event {event_id} "
                               f"is not known to be accepted ({where}).")
        if transport.drops:
            raise CommandError(f"Sentry did not accept the test event {event_id}: {', '.join(transport.drops)} "
                               f"({where}).")
        self.stdout.write(self.style.SUCCESS(f"Sentry accepted the test event {event_id} ({where})."))
