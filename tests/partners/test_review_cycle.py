"""Review cycles with the clock: a partner's review falls due after the policy's interval (queue +
review.due, once however often the cycle runs), an overdue review suspends it with the reason and an
email, and a completed review (service, API, admin) starts the next interval."""

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from levqor.errors import AppError
from levqor.webhooks.models import WebhookDelivery
from partners import tasks
from partners.models import Partner, PartnerReviewEvent
from partners.services import reviews
from partners.services.reviews import partner_review_complete, partner_review_cycle_run
from partners.services.status import partner_status_change
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for
from tests.partners.audit_support import partner_approved

pytestmark = pytest.mark.django_db
DAY = 86400


def _review_due(partner):
    return list(WebhookDelivery.objects.filter(owner=partner.owner, event_type="review.due"))


def test_a_review_falls_due_after_90_days_once_however_often_the_cycle_runs(clock):
    partner = partner_approved()
    due_at = partner.next_review_at
    clock.advance(89 * DAY)
    assert partner_review_cycle_run().marked_due == []
    clock.advance(DAY + 1)
    result = partner_review_cycle_run()
    assert result.marked_due == [partner.pk] and result.suspended == []
    partner.refresh_from_db()
    assert partner.review_due_since == due_at and partner.status == "approved"
    [delivery] = _review_due(partner)
    data = json.loads(delivery.body)["data"]
    assert data["partner_id"] == str(partner.pk) and data["due_at"] == due_at.isoformat()
    assert data["suspend_after"] == (due_at + timedelta(days=14)).isoformat()
    # The same day again, and the next day: no second event, nothing else changes.
    assert partner_review_cycle_run().marked_due == []
    clock.advance(DAY)
    assert tasks.partner_review_cycle() == {"marked_due": 0, "suspended": 0}
    assert len(_review_due(partner)) == 1
    # The admin's "Review due" queue is the partners with review_due_since set.
    assert list(Partner.objects.filter(review_due_since__isnull=False)) == [partner]


def test_overdue_by_14_days_suspends_with_the_reason_and_an_email(clock, django_capture_on_commit_callbacks):
    partner = partner_approved()
    other = partner_approved(name="Fresh")  # approved later: not overdue
    Partner.objects.filter(pk=other.pk).update(next_review_at=other.next_review_at + timedelta(days=30))
    clock.advance(90 * DAY + 1)
    partner_review_cycle_run()
    clock.advance(13 * DAY)
    assert partner_review_cycle_run().suspended == []
    clock.advance(DAY)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        result = partner_review_cycle_run()
    assert result.suspended == [partner.pk]
    partner.refresh_from_db()
    assert partner.status == "suspended" and partner.status_reason == "Periodic review overdue by 14 days"
    event = partner.review_events.first()
    assert (event.actor, event.from_status, event.to_status, event.reason) == (
        None, "approved", "suspended", "Periodic review overdue by 14 days")
    [email] = mail.outbox
    assert email.to == [partner.email] and "Periodic review overdue by 14 days" in email.body
    assert WebhookDelivery.objects.filter(owner=partner.owner, event_type="partner.suspended").count() == 1
    # Twice in a day: one suspension.
    assert partner_review_cycle_run().suspended == []
    assert partner.review_events.filter(to_status="suspended").count() == 1
    assert Partner.objects.get(pk=other.pk).status == "approved"


def test_a_long_downtime_marks_and_suspends_in_one_run_with_the_real_delay(clock):
    partner = partner_approved()
    clock.advance(110 * DAY)
    result = partner_review_cycle_run()
    assert result.marked_due == [partner.pk] and result.suspended == [partner.pk]
    partner.refresh_from_db()
    assert partner.status_reason == "Periodic review overdue by 20 days"
    assert len(_review_due(partner)) == 1


def test_completing_a_review_starts_the_next_interval(clock, operator):
    partner = partner_approved()
    clock.advance(91 * DAY)
    partner_review_cycle_run()
    with pytest.raises(AppError) as refused:
        partner_review_complete(partner=partner, actor=operator.user, reason="  ")
    assert refused.value.code == "validation_failed"
    event = partner_review_complete(partner=partner, actor=operator.user, reason="Endpoints and listings checked")
    partner.refresh_from_db()
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        "approved", "approved", operator.user, "Endpoints and listings checked")
    assert partner.review_due_since is None
    assert abs((partner.next_review_at - event.at) - timedelta(days=90)) < timedelta(seconds=1)
    # The cycle starts again: nothing due for 90 days, then due again with a new review.due.
    clock.advance(89 * DAY)
    assert partner_review_cycle_run().marked_due == []
    clock.advance(2 * DAY)
    assert partner_review_cycle_run().marked_due == [partner.pk]
    assert len(_review_due(partner)) == 2


def test_only_an_approved_partner_is_reviewed(operator):
    partner = partner_approved()
    Partner.objects.filter(pk=partner.pk).update(status="suspended")
    with pytest.raises(AppError) as refused:
        partner_review_complete(partner=partner, actor=operator.user, reason="ok")
    assert refused.value.code == "partner_transition_not_allowed"
    assert not PartnerReviewEvent.objects.filter(to_status="suspended").exists()


# --- API ----------------------------------------------------------------------------------------------------

def _url(partner):
    return f"/api/v1/partners/{partner.pk}/review-complete"


def test_staff_complete_a_review_through_the_api(clock, operator, client_for):
    partner = partner_approved()
    clock.advance(91 * DAY)
    partner_review_cycle_run()
    operator.force_login(operator.user)  # the session from 91 days ago has expired
    response = post_json(operator, _url(partner), {"reason": "All checks fine"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["partner_id"] == str(partner.pk) and body["review_due_since"] is None
    assert body["review_event"]["from_status"] == body["review_event"]["to_status"] == "approved"
    assert body["review_event"]["actor"] == operator.user.email
    # An operator key: admin:read (an operator's) and partners:write.
    _, raw = api_key_for(scopes=["admin:read", "partners:write"])
    assert post_json(client_for(raw), _url(partner), {"reason": "Again"}).status_code == 200


def test_the_review_api_refuses_others_and_bad_input(operator, client_for):
    partner = partner_approved()
    _, customer = api_key_for(partner.owner)  # the partner's own owner is not an operator
    response = post_json(client_for(customer), _url(partner), {"reason": "me"})
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
    _, read_only = api_key_for(scopes=["admin:read"])
    assert post_json(client_for(read_only), _url(partner), {"reason": "x"}).json()["error"] == "insufficient_scope"
    member = Client()
    member.force_login(UserFactory())
    assert post_json(member, _url(partner), {"reason": "x"}).status_code == 403
    missing = post_json(operator, "/api/v1/partners/00000000-0000-0000-0000-000000000000/review-complete",
                        {"reason": "x"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    empty = post_json(operator, _url(partner), {"reason": ""})
    assert empty.status_code == 400 and empty.json()["error"] == "validation_failed"
    Partner.objects.filter(pk=partner.pk).update(status="pending_approval")
    assert post_json(operator, _url(partner), {"reason": "x"}).json()["error"] == "partner_transition_not_allowed"
    assert not PartnerReviewEvent.objects.filter(to_status="approved", from_status="approved").exists()


# --- admin --------------------------------------------------------------------------------------------------

def test_review_completed_in_the_admin_asks_for_a_reason(clock, operator):
    first, second = partner_approved(name="One"), partner_approved(name="Two")
    clock.advance(91 * DAY)
    partner_review_cycle_run()
    operator.force_login(operator.user)  # the session from 91 days ago has expired
    url = f"/admin/partners/partneraudit/review-complete/?ids={first.pk},{second.pk},not-an-id"
    page = operator.get(url)
    assert page.status_code == 200 and "One" in page.content.decode() and "Two" in page.content.decode()
    refused = operator.post(url, {"ids": f"{first.pk},{second.pk}", "reason": ""})
    assert refused.status_code == 200 and "This field is required" in refused.content.decode()
    assert Partner.objects.filter(review_due_since__isnull=False).count() == 2
    done = operator.post(url, {"ids": f"{first.pk},{second.pk}", "reason": "Quarterly review done"})
    assert done.status_code == 302
    assert Partner.objects.filter(review_due_since__isnull=False).count() == 0
    assert PartnerReviewEvent.objects.filter(reason="Quarterly review done", actor=operator.user).count() == 2
    member = Client()
    member.force_login(UserFactory())
    assert member.get(url).status_code == 302  # not staff: the admin's sign-in


def test_the_admin_action_sends_the_selection_to_the_reason_page(operator):
    from django.contrib import admin
    from django.test import RequestFactory

    from partners.admin.audits import partner_review_complete_action
    from partners.models import PartnerAudit

    partner = partner_approved()
    request = RequestFactory().post("/admin/partners/partner/")
    request.user = operator.user
    response = partner_review_complete_action(admin.site._registry[PartnerAudit], request,
                                              Partner.objects.filter(pk=partner.pk))
    assert response.status_code == 302
    assert response["Location"] == f"/admin/partners/partneraudit/review-complete/?ids={partner.pk}"


def test_a_review_completed_while_the_cycle_suspends_wins(clock, operator):
    """The cycle reads a partner as overdue; a reviewer completes its review before the suspension
    takes the row lock: the completed review wins, the partner stays approved."""
    partner = partner_approved()
    clock.advance(110 * DAY)
    read_by_the_cycle = Partner.objects.get(pk=partner.pk)  # overdue, as the cycle's query saw it
    partner_review_complete(partner=partner, actor=operator.user, reason="Reviewed just in time")
    assert reviews._suspend_overdue(read_by_the_cycle, now=timezone.now()) is False
    partner.refresh_from_db()
    assert partner.status == "approved" and partner.review_due_since is None
    assert not partner.review_events.filter(to_status="suspended").exists()
    # Read afresh, it is not overdue at all now.
    assert partner_review_cycle_run().suspended == []


def test_a_status_change_refuses_when_what_it_was_decided_on_changed_meanwhile():
    partner = partner_approved()
    with pytest.raises(AppError) as refusal:
        partner_status_change(partner=partner, action="suspend", actor=None, reason="Overdue",
                              expected={"next_review_at": partner.next_review_at - timedelta(days=1)})
    assert refusal.value.code == "partner_transition_not_allowed"
    assert refusal.value.details["changed"] == ["next_review_at"]
    assert Partner.objects.get(pk=partner.pk).status == "approved"


def test_status_changes_and_completed_reviews_move_updated_at(clock, operator):
    partner = partner_approved()
    before = Partner.objects.get(pk=partner.pk).updated_at
    clock.advance(DAY)
    partner_status_change(partner=partner, action="suspend", actor=None, reason="Chargebacks")
    suspended_at = Partner.objects.get(pk=partner.pk).updated_at
    assert suspended_at >= before + timedelta(days=1)
    clock.advance(DAY)
    partner_status_change(partner=partner, action="reinstate", actor=operator.user, reason="Settled")
    clock.advance(DAY)
    partner_review_complete(partner=partner, actor=operator.user, reason="Reviewed")
    assert Partner.objects.get(pk=partner.pk).updated_at >= suspended_at + timedelta(days=2)

