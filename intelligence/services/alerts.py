"""Raising alerts: stored, de-duplicated. (Routing to channels and deliveries build on this.)"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from intelligence.models import Alert


def alert_raise(*, source: str, severity: str, title: str, body: str = "", dedup_key: str | None = None) -> Alert:
    """Record an alert. The same dedup key (default: source + title) seen again within
    ALERT_DEDUP_SECONDS of its last sighting, while not resolved, counts on the same alert
    (count + 1, last_seen now) and returns it; otherwise a new open alert is stored."""
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
        return Alert.objects.create(source=source, severity=Alert.Severity(severity), title=title[:200], body=body,
                                    dedup_key=key, first_seen=now, last_seen=now)
