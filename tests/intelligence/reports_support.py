"""A realistic small platform for the report tests: users (some new this week), growth events, jobs
with the events that ended their runs, ledger entries, a partner audit with findings, an incident,
a flag, a switch and an active discount code. Returns what the report must say."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from waffle.models import Flag, Switch

from accounts.models import User
from intelligence.models import GrowthEvent, Incident
from intelligence.services.ledger import ledger_entry_record
from jobs.models import Job, JobEvent
from marketplace.models import PromotionCode
from partners.models import Partner, PartnerAudit
from tests.factories import JobFactory, UserFactory


def jobs_for(owner, workflow: str, *, n: int = 1, status=Job.Status.SUCCEEDED, ms: int = 120, at=None) -> list[Job]:
    """n finished jobs of `owner`, each with the event that ended its run (duration ms)."""
    at = at or timezone.now() - timedelta(hours=1)
    made = []
    for _ in range(n):
        job = JobFactory(owner=owner, workflow=workflow, status=status, created_at=at, started_at=at, finished_at=at)
        JobEvent.objects.create(job=job, kind=status, attempt=1, from_status="running", to_status=status,
                                duration_ms=ms, cost=Decimal("0.001"), at=at)
        made.append(job)
    return made


def weekly_world(now) -> dict:
    today = now.date()
    old = [UserFactory() for _ in range(3)]
    User.objects.filter(pk__in=[u.pk for u in old]).update(created_at=now - timedelta(days=40))
    GrowthEvent.objects.filter(user__in=old, kind="signup").delete()  # they signed up long ago
    new = [UserFactory() for _ in range(6)]
    GrowthEvent.objects.create(kind="paid", user=new[0], day=today, at=now, source="")
    for _ in range(12):
        GrowthEvent.objects.create(kind="visit", visitor=str(uuid.uuid4()), day=today, at=now, source="direct")
    for n, user in enumerate(new):
        jobs_for(user, "demo.flow", n=n + 1, ms=100 + 10 * n)
    for kind, amount in (("revenue", 123456), ("stripe_fee", 3600), ("ai_cost", 1250), ("infra_cost", 20000)):
        ledger_entry_record(day=today - timedelta(days=2), kind=kind, amount_minor=amount, currency="USD",
                            source=f"test:{kind}")
    partner = Partner.objects.create(owner=old[0], name="Acme Data", email="p@acme.test",
                                     webhook_url="https://acme.test/hooks", revenue_share=Decimal("0.7"))
    PartnerAudit.objects.create(
        partner=partner, trigger="scheduled", started_at=now - timedelta(days=1), finished_at=now - timedelta(days=1),
        outcome="fail", policy_version=1,
        findings=[{"check": "https", "ok": False, "severity": "critical", "detail": "Webhook URL is not https"},
                  {"check": "deliveries", "ok": True, "severity": "info", "detail": "all delivered"}])
    Incident.objects.create(title="SLO breach: p99 over 200 ms", opened_at=now - timedelta(days=2))
    Flag.objects.create(name="REPORT_TEST_FLAG", everyone=True, note="for the report")
    Switch.objects.create(name="REPORT_TEST_SWITCH", active=False)
    PromotionCode.objects.create(code="LEVQOR-WEEKLY01", percent_off=15, active=True, livemode=True,
                                 reason="low_signups", valid_until=now + timedelta(days=10))
    return {"users_total": 9, "users_new": 6, "signups": 6, "paid": 1, "visits": 12, "jobs": 21,
            "revenue": "1234.56", "net": "986.06"}
