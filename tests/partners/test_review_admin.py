"""Partner review in the admin: the queue (pending oldest first, review due), the four actions
through a page that requires a reason, the trail rows, the email and the webhook to the partner,
refusals as admin messages, and the trail read-only."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from levqor.webhooks.models import WebhookDelivery
from partners.models import Partner, PartnerReviewEvent
from partners.services.registry import partner_register
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/partners/partner/"


def apply(name="Acme", **fields):
    return partner_register(owner=UserFactory(), name=name, email=f"{name.lower()}@partner.example",
                            webhook_url=f"https://{name.lower()}.example/hooks", **fields)


def review_url(action, *partners):
    return f"{CHANGELIST}review/{action}/?ids={','.join(str(p.pk) for p in partners)}"


def names(response):
    return [p.name for p in response.context["cl"].result_list]


def test_the_default_view_is_the_pending_queue_oldest_first(operator, clock):
    older = apply("Older")
    clock.advance(60)
    newer = apply("Newer")
    approved = apply("Approved")
    Partner.objects.filter(pk=approved.pk).update(status="approved")
    response = operator.get(CHANGELIST)
    assert names(response) == [older.name, newer.name]
    assert "Pending review" in response.content.decode()
    assert set(names(operator.get(CHANGELIST + "?queue=all"))) == {"Older", "Newer", "Approved"}
    assert names(operator.get(CHANGELIST + "?q=approved")) == ["Approved"]  # a search looks at every partner


def test_the_review_due_queue_lists_approved_partners_longest_due_first(operator):
    now = timezone.now()
    for name, days in (("Recent", 1), ("Long", 10)):
        partner = apply(name)
        Partner.objects.filter(pk=partner.pk).update(status="approved", review_due_since=now - timedelta(days=days))
    apply("Pending")
    assert names(operator.get(CHANGELIST + "?queue=due")) == ["Long", "Recent"]


def test_an_action_leads_to_the_reason_page(operator):
    partner = apply()
    response = operator.post(CHANGELIST + "?queue=pending", {"action": "approve", "_selected_action": [partner.pk]})
    assert response.status_code == 302 and response["Location"] == review_url("approve", partner)
    page = operator.get(response["Location"])
    assert page.status_code == 200 and "Reason" in page.content.decode() and partner.name in page.content.decode()


def test_a_reason_is_required(operator):
    partner = apply()
    response = operator.post(review_url("approve", partner), {"ids": str(partner.pk), "reason": "  "})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    partner.refresh_from_db()
    assert partner.status == "pending_approval"


def test_approving_records_the_trail_emails_and_queues_the_webhook(operator, django_capture_on_commit_callbacks):
    partner = apply()
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(review_url("approve", partner), {"ids": str(partner.pk), "reason": "Company verified"})
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.status == "approved" and partner.status_reason == "Company verified"
    event = PartnerReviewEvent.objects.filter(partner=partner).first()
    assert (event.actor, event.from_status, event.to_status, event.reason) == (
        operator.user, "pending_approval", "approved", "Company verified")
    assert mail.outbox[-1].to == [partner.email] and "Company verified" in mail.outbox[-1].body
    delivery = WebhookDelivery.objects.get(owner=partner.owner)
    assert delivery.event_type == "partner.verified" and delivery.url == partner.webhook_url
    assert '"reason":"Company verified"' in delivery.body


@pytest.mark.parametrize("start, action, end, event_type", [
    ("pending_approval", "reject", "rejected", None),
    ("approved", "suspend", "suspended", "partner.suspended"),
    ("suspended", "reinstate", "approved", "partner.verified"),
])
def test_the_other_actions(operator, start, action, end, event_type, django_capture_on_commit_callbacks):
    partner = apply()
    Partner.objects.filter(pk=partner.pk).update(status=start)
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(review_url(action, partner), {"ids": str(partner.pk), "reason": f"Because {action}"})
    partner.refresh_from_db()
    assert partner.status == end
    assert PartnerReviewEvent.objects.filter(partner=partner, to_status=end, reason=f"Because {action}").exists()
    assert f"Because {action}" in mail.outbox[-1].body
    sent = list(WebhookDelivery.objects.filter(owner=partner.owner).values_list("event_type", flat=True))
    assert sent == ([event_type] if event_type else [])


def test_a_transition_not_allowed_is_an_admin_message_not_a_500(operator):
    pending, approved = apply("Pending"), apply("Approved")
    Partner.objects.filter(pk=approved.pk).update(status="approved")
    response = operator.post(review_url("approve", pending, approved),
                             {"ids": f"{pending.pk},{approved.pk}", "reason": "Batch"}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any(m.startswith("Approved: ") and "cannot be approved" in m for m in shown)
    assert any("Approved 1 partner" in m for m in shown)


def test_the_change_page_has_the_buttons_and_a_read_only_trail(operator):
    partner = apply()
    page = operator.get(f"{CHANGELIST}{partner.pk}/change/").content.decode()
    assert 'id="review-approve"' in page and 'id="review-reject"' in page and 'id="review-reinstate"' not in page
    assert "applied" in page
    assert 'name="review_events-0-reason"' not in page  # shown, not editable
    assert operator.get(f"{CHANGELIST}add/").status_code == 403
    assert operator.post(f"{CHANGELIST}{partner.pk}/delete/", {"post": "yes"}).status_code == 403


def test_non_staff_cannot_reach_the_review_page(client, db):
    partner = apply()
    user = UserFactory()
    client.force_login(user)
    response = client.post(review_url("approve", partner), {"ids": str(partner.pk), "reason": "Me"})
    assert response.status_code == 302 and "/admin/login" in response["Location"]
    partner.refresh_from_db()
    assert partner.status == "pending_approval"
