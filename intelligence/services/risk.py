"""The governance risk score (reference formula, original-behaviour.md section 4), fed from the
partners' audits, registry and ratings and from our incidents. Four aggregates in SQL, one each.

Start at 100 and deduct:
- audit volume: more than 100 partner audits in 30 days -> min(20, (audits - 100) * 0.2);
- unverified partners: more than 30 % of live (not deleted) partners not approved ->
  min(15, unverified_pct * 0.5);
- low rating: the mean of every star rating given to a live partner below 3 -> (3 - avg) * 10;
- incidents: more than 5 incidents opened in 7 days -> min(20, incidents * 2).
Level by the score (rounded to 1 decimal): >= 80 low, >= 60 medium, >= 40 high, else critical.
The percentage and the average are taken to 2 decimals first, so the inputs shown reproduce the score."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Avg, Count, Q
from django.utils import timezone

from intelligence.models import Incident
from partners.models import Partner, PartnerAudit, PartnerRating

AUDITS_WINDOW = timedelta(days=30)
INCIDENTS_WINDOW = timedelta(days=7)
LEVELS = ((Decimal(80), "low"), (Decimal(60), "medium"), (Decimal(40), "high"))
TWO = Decimal("0.01")
ONE = Decimal("0.1")


@dataclass(frozen=True)
class Deduction:
    rule: str
    points: Decimal
    cause: str


def _q(value, step=TWO) -> Decimal:
    return Decimal(value).quantize(step, rounding=ROUND_HALF_UP)


def risk_level(score: Decimal) -> str:
    for floor, level in LEVELS:
        if score >= floor:
            return level
    return "critical"


def risk_deductions(*, audits_30d: int, unverified_pct: Decimal, avg_rating: Decimal | None,
                    incidents_7d: int) -> list[Deduction]:
    """The reference formula's deductions that apply to these inputs (none when a rule does not)."""
    found = []
    if audits_30d > 100:
        points = min(Decimal(20), (audits_30d - 100) * Decimal("0.2"))
        found.append(Deduction("audit_volume", points,
                               f"{audits_30d} partner audits in the last 30 days, more than 100: "
                               f"0.2 per audit above 100, at most 20."))
    if unverified_pct > 30:
        points = min(Decimal(15), unverified_pct * Decimal("0.5"))
        found.append(Deduction("unverified_partners", points,
                               f"{unverified_pct} % of partners are not approved, more than 30 %: "
                               f"0.5 per percent, at most 15."))
    if avg_rating is not None and avg_rating < 3:
        points = (3 - avg_rating) * 10
        found.append(Deduction("low_rating", points,
                               f"The average partner rating is {avg_rating}, below 3: 10 per star below 3."))
    if incidents_7d > 5:
        points = min(Decimal(20), incidents_7d * 2)
        found.append(Deduction("incidents", Decimal(points),
                               f"{incidents_7d} incidents opened in the last 7 days, more than 5: 2 each, at most 20."))
    return found


def governance_risk(*, now=None) -> dict:
    """The score, its level, the inputs it was computed from and each deduction with its cause."""
    now = now or timezone.now()
    audits_30d = PartnerAudit.objects.filter(started_at__gt=now - AUDITS_WINDOW, started_at__lte=now).count()
    partners = Partner.objects.filter(deleted_at__isnull=True).aggregate(
        total=Count("pk"), unverified=Count("pk", filter=~Q(status=Partner.Status.APPROVED)))
    total = partners["total"]
    unverified_pct = _q(Decimal(partners["unverified"]) * 100 / total) if total else Decimal("0.00")
    avg = PartnerRating.objects.filter(partner__deleted_at__isnull=True).aggregate(avg=Avg("stars"))["avg"]
    avg_rating = _q(str(avg)) if avg is not None else None
    incidents_7d = Incident.objects.filter(opened_at__gt=now - INCIDENTS_WINDOW, opened_at__lte=now).count()

    deductions = risk_deductions(audits_30d=audits_30d, unverified_pct=unverified_pct, avg_rating=avg_rating,
                                 incidents_7d=incidents_7d)
    score = _q(Decimal(100) - sum((d.points for d in deductions), Decimal(0)), ONE)
    return {
        "score": float(score),
        "level": risk_level(score),
        "at": now,
        "inputs": {"audits_30d": audits_30d, "partners_total": total,
                   "partners_unverified": partners["unverified"], "unverified_pct": float(unverified_pct),
                   "avg_rating": float(avg_rating) if avg_rating is not None else None,
                   "incidents_7d": incidents_7d},
        "deductions": [{"rule": d.rule, "points": float(_q(d.points)), "cause": d.cause} for d in deductions],
    }
