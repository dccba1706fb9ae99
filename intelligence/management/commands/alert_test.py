import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from intelligence.models import Alert, AlertChannel, AlertDelivery
from intelligence.services.alert_channels import alert_admin_url, channel_states
from intelligence.services.alert_routing import alert_delivery_send
from intelligence.services.alerts import alert_raise
from levqor.site import site_url


class Command(BaseCommand):
    help = ("Raise a test alert through the router (routes, channels, deliveries) and print where it was "
            "routed and which channels are not configured. The workers send it, unless --send-now.")

    def add_arguments(self, parser):
        parser.add_argument("--severity", choices=Alert.Severity.values, default=Alert.Severity.CRITICAL,
                            help="Default critical (which the default routes send to every channel).")
        parser.add_argument("--title", default="", help="Default: 'Test alert (<severity>) from manage.py alert_test'.")
        parser.add_argument("--source", default="test", help='The alert source, for routes limited to sources. Default "test".')
        parser.add_argument("--dedup-key", default="",
                            help="Default: a new key each run, so every run is a new alert that is routed. The same "
                                 "key again within ALERT_DEDUP_SECONDS counts on the first alert and sends nothing.")
        parser.add_argument("--send-now", action="store_true",
                            help="Also make the first attempt of each pending delivery from this process, as a "
                                 "worker would, and print the outcome (checks the channel settings without a cluster).")

    def handle(self, *args, severity, title, source, dedup_key, send_now, **options):
        title = title or f"Test alert ({severity}) from manage.py alert_test"
        alert = alert_raise(source=source, severity=severity, title=title,
                            dedup_key=dedup_key or f"alert_test:{uuid.uuid4().hex}",
                            body="Raised by `manage.py alert_test` to check the alert routes and channels.")
        if alert.count > 1:
            self.stdout.write(f"De-duplicated: alert #{alert.pk} was raised with this dedup key within "
                              f"{settings.ALERT_DEDUP_SECONDS} s; its count is now {alert.count} and nothing new is sent.")
            return
        self.stdout.write(f"Alert #{alert.pk} [{alert.severity}] \"{alert.title}\" stored (source {alert.source}).")
        deliveries = list(alert.deliveries.order_by("pk"))
        if not deliveries:
            self.stdout.write(f"Routed nowhere: no enabled route sends {severity} alerts from source {source!r}. "
                              f"Routes: {site_url(reverse('admin:intelligence_alertroute_changelist'))}")
        else:
            self.stdout.write(f"Routed to {len(deliveries)} channel(s):")
        failed = 0
        for delivery in deliveries:
            if send_now and delivery.status == AlertDelivery.Status.PENDING:
                alert_delivery_send(delivery_id=delivery.pk)
                delivery.refresh_from_db()
                if delivery.status != AlertDelivery.Status.SENT:
                    failed += 1
            self.stdout.write(f"  {delivery.channel:<9} {self._outcome(delivery)}")
        states = channel_states()
        routed = {delivery.channel for delivery in deliveries}
        idle = [channel for channel in AlertChannel if not states[channel.value].configured and channel not in routed]
        if idle:
            self.stdout.write(f"{'Other channels n' if routed else 'N'}ot configured:")
            for channel in idle:
                self.stdout.write(f"  {channel.value:<9} {states[channel.value].detail}")
        if any(delivery.status == AlertDelivery.Status.PENDING for delivery in deliveries) and not send_now:
            self.stdout.write("The workers (manage.py qcluster) send the pending deliveries.")
        self.stdout.write(f"Deliveries: {alert_admin_url(alert)}")
        if failed:
            raise CommandError(f"{failed} delivery(ies) did not go out now; see the errors above.")

    @staticmethod
    def _outcome(delivery: AlertDelivery) -> str:
        if delivery.status == AlertDelivery.Status.SENT:
            return "sent"
        if delivery.status == AlertDelivery.Status.NOT_CONFIGURED:
            return delivery.last_error  # "Not configured: set ..."
        if delivery.status == AlertDelivery.Status.FAILED:
            return f"failed after {delivery.attempts} attempt(s): {delivery.last_error}"
        if delivery.attempts:
            return (f"attempt {delivery.attempts} failed: {delivery.last_error} "
                    f"(retried by the workers at {delivery.next_attempt_at:%H:%M:%S} UTC)")
        return "pending (queued for the workers)"
