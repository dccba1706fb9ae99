"""The back-office side of anomalies, incidents and auto-tune: read-only records in the admin
(the incident's timeline inline), staff only; and their recurring schedules."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from intelligence.models import Anomaly, Incident, IncidentEvent, SloCheck, TuneSuggestion

pytestmark = pytest.mark.django_db


def _incident():
    now = timezone.now()
    incident = Incident.objects.create(opened_at=now, title="SLO breached: p99 (3 checks within 10 minutes)")
    IncidentEvent.objects.create(incident=incident, at=now, kind="breach", message="p99 312 ms > 200 ms")
    IncidentEvent.objects.create(incident=incident, at=now, kind="held", message="Automatic recovery held: stabilize")
    SloCheck.objects.create(window_start=now - timedelta(minutes=6), window_end=now - timedelta(minutes=1), at=now,
                            p99_ms=312.0, breaches=["p99"], passed=False, incident=incident)
    return incident


def test_operators_read_incidents_with_their_timeline_and_checks(operator):
    incident = _incident()
    Anomaly.objects.create(series="http.request.p95 route=/api/v1/jobs", opened_at=timezone.now(), value=900.0,
                           z_score=8.5, method="zscore", window=120)
    page = operator.get(reverse("admin:intelligence_incident_change", args=[incident.pk])).content.decode()
    assert "p99 312 ms &gt; 200 ms" in page and "Automatic recovery held" in page
    for name in ("incident", "anomaly", "anomalyseries", "slocheck", "tunesuggestion"):
        assert operator.get(reverse(f"admin:intelligence_{name}_changelist")).status_code == 200, name
    listing = operator.get(reverse("admin:intelligence_anomaly_changelist"), {"cleared_at__isnull": "True"})
    assert "route=/api/v1/jobs" in listing.content.decode()
    # Records of what happened: nobody adds, edits or deletes them here.
    for name in ("incident", "anomaly", "slocheck", "tunesuggestion"):
        assert operator.get(reverse(f"admin:intelligence_{name}_add")).status_code == 403, name
    assert operator.post(reverse("admin:intelligence_incident_change", args=[incident.pk]),
                         {"title": "renamed"}).status_code == 403
    assert Incident.objects.get().title == incident.title


def test_the_back_office_is_staff_only(client, user):
    client.force_login(user)
    for url in (reverse("admin:intelligence_incident_changelist"), reverse("admin:intelligence_tunesuggestion_changelist")):
        assert client.get(url).status_code == 302  # to the admin sign-in
    assert client.post(reverse("admin:intelligence_tunesuggestion_run")).status_code == 302
    assert not TuneSuggestion.objects.exists()


def test_schedules_are_declared_and_name_real_tasks():
    expected = {"intelligence.anomaly_scan": ("intelligence.tasks.anomaly_scan", 1),
                "intelligence.slo_watchdog": ("intelligence.tasks.slo_watchdog", 5),
                "intelligence.autotune": ("intelligence.tasks.autotune", 60)}
    schedules = {s.name: (s.func, s.minutes) for s in Schedule.objects.filter(name__in=expected)}
    assert schedules == expected
    assert all(s.schedule_type == Schedule.MINUTES and s.repeats == -1 for s in Schedule.objects.filter(name__in=expected))
    for func, _ in expected.values():
        module, name = func.rsplit(".", 1)
        assert callable(getattr(import_module(module), name))


def test_the_tasks_run_their_services_on_empty_data(clock):
    from intelligence import tasks

    assert tasks.anomaly_scan() == 0
    check_pk = tasks.slo_watchdog()
    assert SloCheck.objects.get(pk=check_pk).passed is True
    assert tasks.slo_watchdog() is None  # the same window: checked once
    assert tasks.autotune() == []
