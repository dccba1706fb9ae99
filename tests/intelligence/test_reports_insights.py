"""The insights report's k-anonymity: no group of fewer than 5 people is shown as such."""

import re

import pytest

from intelligence.services.pdf import pdf_text
from intelligence.services.reports import report_generate
from intelligence.services.reports_insights import OTHER, groups_fold, insights_figures, p95
from tests.factories import UserFactory
from tests.intelligence.reports_support import jobs_for

pytestmark = pytest.mark.django_db


def _text(report) -> str:
    return re.sub(r"\s+", " ", pdf_text(bytes(report.pdf)))


def _users_running(workflow: str, people: int, *, jobs_each: int = 1):
    for _ in range(people):
        jobs_for(UserFactory(), workflow, n=jobs_each)


def test_a_workflow_of_4_users_is_not_shown_and_one_of_5_is():
    _users_running("five.flow", 5, jobs_each=2)
    _users_running("four.flow", 4, jobs_each=3)

    text = _text(report_generate(kind="insights"))

    assert "five.flow 5 10 100.0 % 120 ms" in text
    assert "four.flow" not in text
    assert not re.search(re.escape(OTHER) + r" \d", text)  # 4 people together are still under 5: left out
    assert "1 workflow with fewer than 5 users (together too) not shown." in text
    assert "Total shown 10" in text  # only what is shown: the hidden 12 jobs cannot be worked out


def test_small_groups_are_folded_when_together_they_reach_5_people():
    _users_running("a.flow", 3)
    _users_running("b.flow", 3)
    shared = UserFactory()  # in both small groups: counted once
    jobs_for(shared, "a.flow")
    jobs_for(shared, "b.flow")

    jobs = insights_figures()["jobs"]

    assert jobs["rows"] == []
    assert jobs["other"]["workflow"] == OTHER and jobs["other"]["people"] == 7 and jobs["other"]["jobs"] == 8
    text = _text(report_generate(kind="insights"))
    assert f"{OTHER} 7 8" in text and "a.flow" not in text and "b.flow" not in text


def test_groups_fold_counts_people_not_rows():
    rows = [{"k": "x", "people": 4, "n": 1}, {"k": "y", "people": 2, "n": 5}, {"k": "z", "people": 9, "n": 3}]
    folded = groups_fold(rows, key="k", sums=("n",), people_of=lambda keys: 5)
    assert [r["k"] for r in folded["rows"]] == ["z"]
    assert folded["other"] == {"k": OTHER, "people": 5, "n": 6} and folded["folded"] == 2
    folded = groups_fold(rows, key="k", sums=("n",), people_of=lambda keys: 4)
    assert folded["other"] is None and folded["suppressed"]


def test_users_by_tier_hide_a_tier_under_5():
    for _ in range(5):
        UserFactory(tier="sandbox")
    for _ in range(2):
        UserFactory(tier="enterprise")
    text = _text(report_generate(kind="insights"))
    assert "sandbox 5" in text and "enterprise" not in text
    assert "1 tier with fewer than 5 users (together too) not shown." in text


def test_p95_by_nearest_rank():
    assert p95([]) is None
    assert p95([5]) == 5
    assert p95(list(range(1, 101))) == 95


def test_listings_and_orders_by_category_hide_small_groups():
    from django.utils import timezone

    from marketplace.models import Listing, Order
    from tests.marketplace.store_support import listing_make

    modules = [listing_make(category=Listing.Category.MODULE) for _ in range(5)]  # 5 partners
    for _ in range(4):  # 4 partners
        listing_make(category=Listing.Category.TEMPLATE)
    now = timezone.now()
    for n, buyer in enumerate([UserFactory() for _ in range(5)]):
        Order.objects.create(listing=modules[n], partner=modules[n].partner, buyer=buyer, status="completed",
                             amount_minor=0, currency="usd", revenue_share="0.700", completed_at=now)

    text = _text(report_generate(kind="insights"))

    assert "module 5 5" in text  # 5 partners, 5 listings; and 5 buyers, 5 orders
    assert "template" not in text
    assert "1 category with fewer than 5 partners (together too) not shown." in text
