"""The governance risk score by the reference formula: each deduction exactly, with its threshold and
its cap, each level boundary, a worked example, GET /api/v1/governance/risk (operators only) and its
admin page."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from intelligence.models import Incident
from intelligence.services.risk import governance_risk, risk_level
from partners.models import Partner, PartnerAudit, PartnerRating
from tests.factories import UserFactory, api_key_for

pytestmark = pytest.mark.django_db


def _audits(n, *, days_ago=1):
    partner = _partners(1)[0] if not Partner.objects.exists() else Partner.objects.first()
    moment = timezone.now() - timedelta(days=days_ago)
    PartnerAudit.objects.bulk_create(PartnerAudit(partner=partner, trigger="scheduled", started_at=moment,
                                                  finished_at=moment, outcome="pass", policy_version=1)
                                     for _ in range(n))


def _partners(n, *, status="approved", deleted=False):
    made = []
    for _ in range(n):
        made.append(Partner.objects.create(owner=UserFactory(), name="P", email="p@p.test",
                                           webhook_url="https://p.test/h", revenue_share=Decimal("0.7"),
                                           status=status, deleted_at=timezone.now() if deleted else None))
    return made


def _ratings(partner, *stars):
    for value in stars:
        PartnerRating.objects.create(partner=partner, user=UserFactory(), stars=value)


def _incidents(n, *, days_ago=1):
    for i in range(n):
        Incident.objects.create(opened_at=timezone.now() - timedelta(days=days_ago, minutes=i), title=f"SLO breach {i}")


def _points(risk):
    return {d["rule"]: d["points"] for d in risk["deductions"]}


def test_nothing_to_deduct_scores_100_low():
    risk = governance_risk()
    assert (risk["score"], risk["level"], risk["deductions"]) == (100.0, "low", [])
    assert risk["inputs"] == {"audits_30d": 0, "partners_total": 0, "partners_unverified": 0, "unverified_pct": 0.0,
                              "avg_rating": None, "incidents_7d": 0}


@pytest.mark.parametrize("audits, points", [(100, None), (101, 0.2), (130, 6.0), (200, 20.0), (250, 20.0)])
def test_audit_volume_above_100_in_30_days_costs_0_2_each_at_most_20(audits, points):
    _audits(audits)
    _audits(50, days_ago=31)  # older than 30 days: not counted
    risk = governance_risk()
    assert risk["inputs"]["audits_30d"] == audits
    assert _points(risk).get("audit_volume") == points
    assert risk["score"] == 100 - (points or 0)


@pytest.mark.parametrize("unverified, total, points", [(3, 10, None), (4, 10, 15.0), (31, 100, 15.0)])
def test_unverified_partners_above_30_percent_cost_half_a_point_per_percent_at_most_15(unverified, total, points):
    """Above 30 %, 0.5 per percent is already more than 15: whenever the rule applies it costs its cap."""
    _partners(total - unverified)
    _partners(unverified, status="pending_approval")
    _partners(5, status="pending_approval", deleted=True)  # deleted partners are not counted
    risk = governance_risk()
    assert (risk["inputs"]["partners_total"], risk["inputs"]["partners_unverified"]) == (total, unverified)
    assert _points(risk).get("unverified_partners") == points


def test_suspended_and_rejected_partners_count_as_unverified():
    _partners(1)
    _partners(1, status="suspended")
    _partners(1, status="rejected")
    risk = governance_risk()
    assert risk["inputs"]["unverified_pct"] == 66.67 and _points(risk)["unverified_partners"] == 15.0


@pytest.mark.parametrize("stars, avg, points", [((3, 3), 3.0, None), ((2, 3), 2.5, 5.0), ((1, 2, 2), 1.67, 13.3),
                                                ((1,), 1.0, 20.0)])
def test_an_average_rating_below_3_costs_10_per_star_below(stars, avg, points):
    _ratings(_partners(1)[0], *stars)
    risk = governance_risk()
    assert risk["inputs"]["avg_rating"] == avg
    assert _points(risk).get("low_rating") == points


def test_the_average_is_over_every_rating_of_live_partners():
    busy, loved, gone = _partners(3)
    _ratings(busy, 1, 1, 1)  # three ratings of 1 ...
    _ratings(loved, 5)  # ... and one of 5: mean 2.0 (the mean of partner means would be 3.0)
    _ratings(gone, 5, 5, 5, 5)
    Partner.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())  # a deleted partner's ratings do not count
    risk = governance_risk()
    assert risk["inputs"]["avg_rating"] == 2.0 and _points(risk)["low_rating"] == 10.0


@pytest.mark.parametrize("incidents, points", [(5, None), (6, 12.0), (9, 18.0), (10, 20.0), (15, 20.0)])
def test_more_than_5_incidents_in_7_days_cost_2_each_at_most_20(incidents, points):
    _incidents(incidents)
    _incidents(4, days_ago=8)  # opened more than 7 days ago: not counted
    risk = governance_risk()
    assert risk["inputs"]["incidents_7d"] == incidents
    assert _points(risk).get("incidents") == points


@pytest.mark.parametrize("score, level", [("100", "low"), ("80.0", "low"), ("79.9", "medium"), ("60.0", "medium"),
                                          ("59.9", "high"), ("40.0", "high"), ("39.9", "critical"), ("0", "critical")])
def test_level_boundaries(score, level):
    assert risk_level(Decimal(score)) == level


def test_worked_example_every_rule_at_once():
    """130 audits in 30 days: (130 - 100) * 0.2 = 6; 4 of 10 partners pending (40 %): min(15, 20) = 15;
    ratings 2 and 3, average 2.5: (3 - 2.5) * 10 = 5; 8 incidents in 7 days: min(20, 16) = 16.
    100 - 6 - 15 - 5 - 16 = 58.0: high (>= 40, < 60)."""
    live = _partners(6)
    _partners(4, status="pending_approval")
    _audits(130)
    _ratings(live[0], 2, 3)
    _incidents(8)
    risk = governance_risk()
    assert risk["score"] == 58.0 and risk["level"] == "high"
    assert risk["inputs"] == {"audits_30d": 130, "partners_total": 10, "partners_unverified": 4, "unverified_pct": 40.0,
                              "avg_rating": 2.5, "incidents_7d": 8}
    assert risk["deductions"] == [
        {"rule": "audit_volume", "points": 6.0,
         "cause": "130 partner audits in the last 30 days, more than 100: 0.2 per audit above 100, at most 20."},
        {"rule": "unverified_partners", "points": 15.0,
         "cause": "40.00 % of partners are not approved, more than 30 %: 0.5 per percent, at most 15."},
        {"rule": "low_rating", "points": 5.0,
         "cause": "The average partner rating is 2.50, below 3: 10 per star below 3."},
        {"rule": "incidents", "points": 16.0,
         "cause": "8 incidents opened in the last 7 days, more than 5: 2 each, at most 20."},
    ]


@pytest.mark.parametrize("audits, incidents, score, level", [
    (200, 0, 80.0, "low"),  # exactly 80: low
    (205, 0, 80.0, "low"),  # the cap holds it at 80
    (0, 6, 88.0, "low"),
    (101, 10, 79.8, "medium"),  # 100 - 0.2 - 20
    (200, 10, 60.0, "medium"),
    (201, 11, 60.0, "medium"),
])
def test_level_from_real_rows_at_the_boundaries(audits, incidents, score, level):
    _audits(audits)
    _incidents(incidents)
    risk = governance_risk()
    assert (risk["score"], risk["level"]) == (score, level)


def test_high_and_critical_from_real_rows():
    _partners(1)
    _partners(1, status="pending_approval")  # 50 % unverified: -15
    _audits(200)  # -20
    _incidents(10)  # -20
    assert (governance_risk()["score"], governance_risk()["level"]) == (45.0, "high")
    _ratings(Partner.objects.filter(status="approved").first(), 1)  # average 1: -20
    risk = governance_risk()
    assert (risk["score"], risk["level"]) == (25.0, "critical") and len(risk["deductions"]) == 4


def test_the_risk_is_four_queries(django_assert_max_num_queries):
    _audits(3)
    with django_assert_max_num_queries(4):
        governance_risk()


# --- API and admin ------------------------------------------------------------------------------------------

def test_the_api_answers_operators_with_admin_read(client_for, operator):
    _incidents(6)
    _, raw = api_key_for(scopes=["admin:read"])
    response = client_for(raw).get("/api/v1/governance/risk")
    assert response.status_code == 200
    body = response.json()
    assert (body["score"], body["level"]) == (88.0, "low")
    assert body["deductions"] == [{"rule": "incidents", "points": 12.0,
                                   "cause": "6 incidents opened in the last 7 days, more than 5: 2 each, at most 20."}]
    assert operator.get("/api/v1/governance/risk").status_code == 200  # staff in the browsable API


def test_the_api_refuses_keys_without_admin_read_and_non_staff(client_for):
    _, raw = api_key_for()  # a customer's key: every customer scope, not admin:read
    response = client_for(raw).get("/api/v1/governance/risk")
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
    member = Client()
    member.force_login(UserFactory())
    assert member.get("/api/v1/governance/risk").status_code == 403
    assert Client().get("/api/v1/governance/risk").status_code == 401


def test_the_admin_page_shows_the_score_and_each_deduction_and_is_linked_from_the_index(operator):
    _incidents(7)
    page = operator.get("/admin/partners/risk/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Score 86.0 of 100: low risk" in text and "incidents" in text and "&minus;14.0" in text
    assert 'href="/admin/partners/risk/"' in operator.get("/admin/").content.decode()
    member = Client()
    member.force_login(UserFactory())
    assert member.get("/admin/partners/risk/").status_code == 302  # not staff: the admin's sign-in
