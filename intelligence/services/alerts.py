"""Raising alerts: stored, de-duplicated, and a new one routed to its channels
(intelligence.services.alert_routing); acknowledging and resolving them."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from intelligence.models import Alert
from intelligence.services.alert_routing import alert_route


def alert_raise(*, source: str, severity: str, title: str, body: str = "", dedup_key: str | None = None) -> Alert:
    """Record an alert. The same dedup key (default: source + title) seen again within
    ALERT_DEDUP_SECONDS of its last sighting, while not resolved, counts on the same alert
    (count + 1, last_seen now) and returns it, sending nothing; otherwise a new open alert is
    stored and routed: its deliveries are created with it and sent by the workers after the commit."""
    now = timezone.now()
    key = dedup_key or f"{source}:{title}"
    window = timedelta(seconds=settings.ALERT_DEDUP_SECONDS)
    with transaction.atomic():
        existing = (Alert.objects.select_for_update()
                    .filter(dedup_key=key, last_seen__gte=now - window)
                    .exclude(status=Alert.Status.RESOLVED).order_by("-last_seen").first())
        if existing is not None:
            Alert.objects.filter(pk=existing.pk).update(count=F("count") + 1, last_seen=now)
            existing.refresh_from_db()
            return existing
        alert = Alert.objects.create(source=source, severity=Alert.Severity(severity), title=title[:200], body=body,
                                     dedup_key=key, first_seen=now, last_seen=now)
        alert_route(alert)
        return alert


def alert_acknowledge(*, alert: Alert, by) -> bool:
    """An operator has seen an open alert: it is acknowledged, recording who and when. False, and
    nothing changes, when it is not open."""
    return bool(Alert.objects.filter(pk=alert.pk, status=Alert.Status.OPEN).update(
        status=Alert.Status.ACKNOWLEDGED, acknowledged_by=by, acknowledged_at=timezone.now()))


def alert_resolve(*, alert: Alert, by=None) -> bool:
    """An open or acknowledged alert is over: resolved, recording who and when (a new sighting of its
    dedup key is then a new alert). False, and nothing changes, when it was resolved already."""
    return bool(Alert.objects.filter(pk=alert.pk).exclude(status=Alert.Status.RESOLVED).update(
        status=Alert.Status.RESOLVED, resolved_by=by, resolved_at=timezone.now()))
