"""partners in the personal data registry: export of the partner, its trail, the user's ratings
and reports; erasure soft-deletes and anonymises the partner, removes the ratings (averages
recomputed) and detaches the reports."""

from decimal import Decimal

import pytest

from accounts.personal_data import personal_data_erase, personal_data_export
from levqor.webhooks.models import WebhookEndpoint
from partners.models import Partner, PartnerRating, PartnerReport
from partners.services.registry import partner_register
from partners.services.status import partner_status_change
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def apply(owner, name="Acme"):
    return partner_register(owner=owner, name=name, email="contact@acme.example",
                            webhook_url="https://hooks.acme.example/h", metadata={"contact": "Jane Roe"})


@pytest.fixture
def world(operator):
    user = UserFactory()
    mine = apply(user)
    partner_status_change(partner=mine, action="approve", actor=operator.user, reason="Verified")
    other = apply(UserFactory(), name="Other")
    PartnerRating.objects.create(partner=other, user=user, stars=1)
    PartnerRating.objects.create(partner=other, user=UserFactory(), stars=5)
    Partner.objects.filter(pk=other.pk).update(rating_avg=Decimal("3.00"), rating_count=2)
    PartnerReport.objects.create(partner=other, reporter=user, reason="Spam emails")
    return user, mine, other, operator.user


def test_the_export_holds_the_partner_its_trail_the_ratings_and_reports(world):
    user, mine, other, staff = world
    document = personal_data_export(user=user)
    [partner] = document["partners"]
    assert partner["id"] == mine.pk and partner["email"] == "contact@acme.example" and partner["status"] == "approved"
    assert [(e["to"], e["by"], e["reason"]) for e in partner["review_trail"]] == [
        ("pending_approval", "you", "applied"), ("approved", "Levqor staff", "Verified")]
    assert staff.email not in str(document)
    assert [(r["partner_id"], r["stars"]) for r in document["partner_ratings"]] == [(other.pk, 1)]
    assert [(r["partner_id"], r["reason"]) for r in document["partner_reports"]] == [(other.pk, "Spam emails")]


def test_erasure_deletes_and_anonymises_the_partner_drops_ratings_detaches_reports(world):
    user, mine, other, staff = world
    personal_data_erase(user=user, actor=user, ip=None)
    mine.refresh_from_db()
    assert mine.deleted_at is not None and mine.name == "Erased partner" and mine.metadata == {}
    assert "acme" not in mine.email and "acme" not in mine.webhook_url
    assert not WebhookEndpoint.objects.filter(owner=user, enabled=True).exists()
    assert mine.review_events.filter(to_status="deleted").exists()  # the trail stays
    assert not PartnerRating.objects.filter(user=user).exists()
    other.refresh_from_db()
    assert (other.rating_avg, other.rating_count) == (Decimal("5.00"), 1)
    report = PartnerReport.objects.get(partner=other)
    assert report.reporter is None and report.reason == "Spam emails"
    document = personal_data_export(user=user)
    assert document["partner_ratings"] == [] and document["partner_reports"] == []
