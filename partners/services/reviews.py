"""Periodic review of approved partners: due after the policy's interval (next_review_at, set on
approval), then in the admin's review queue (review_due_since) with a `review.due` webhook; suspended
when overdue by the policy's review_overdue_days; a completed review starts the next interval."""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.webhooks.services import webhook_event_emit
from partners import events
from partners.models import Partner, PartnerReviewEvent
from partners.services.policy import policy_current
from partners.services.status import partner_status_change

logger = logging.getLogger("levqor.partners")


@dataclass
class ReviewCycleResult:
    marked_due: list = field(default_factory=list)  # partner ids put in the queue by this run
    suspended: list = field(default_factory=list)  # partner ids suspended as overdue by this run


def _approved():
    return Partner.objects.filter(status=Partner.Status.APPROVED, deleted_at__isnull=True)


def partner_review_cycle_run(*, now=None) -> ReviewCycleResult:
    """The daily review cycle. (1) Approved partners whose next_review_at passed and who are not yet
    in the queue get review_due_since = the due date and a `review.due` webhook. (2) Approved partners
    whose review is overdue by policy.review_overdue_days are suspended by the system with the
    reason "Periodic review overdue by N days". Safe to run again: each step is compare-and-set."""
    now = now or timezone.now()
    policy = policy_current()
    result = ReviewCycleResult()
    for partner in _approved().filter(next_review_at__lte=now, review_due_since__isnull=True).select_related("owner"):
        if _mark_due(partner, now=now, overdue_days=policy.review_overdue_days):
            result.marked_due.append(partner.pk)
    overdue_before = now - timedelta(days=policy.review_overdue_days)
    for partner in _approved().filter(next_review_at__lte=overdue_before).select_related("owner"):
        if _suspend_overdue(partner, now=now):
            result.suspended.append(partner.pk)
    if result.marked_due or result.suspended:
        logger.info("review cycle: %d due, %d suspended as overdue", len(result.marked_due), len(result.suspended))
    return result


def _suspend_overdue(partner: Partner, *, now) -> bool:
    """Suspend a partner read as overdue, unless its review moved meanwhile: the due date it was read
    with is checked again under the row lock, so a review completed since (a new next_review_at,
    review_due_since cleared) wins. Only next_review_at decides: another cycle run marking the
    partner due meanwhile (review_due_since) changes nothing about it being overdue."""
    days = (now - partner.next_review_at).days
    try:
        partner_status_change(partner=partner, action="suspend", actor=None,
                              reason=f"Periodic review overdue by {days} days",
                              expected={"next_review_at": partner.next_review_at})
    except AppError as exc:  # moved by someone else meanwhile (reviewed, suspended): nothing to do
        logger.info("review cycle: partner %s not suspended: %s", partner.pk, exc.message)
        return False
    return True


def _mark_due(partner: Partner, *, now, overdue_days: int) -> bool:
    due = partner.next_review_at
    with transaction.atomic():
        marked = _approved().filter(pk=partner.pk, next_review_at=due, review_due_since__isnull=True) \
            .update(review_due_since=due, updated_at=now)
        if not marked:
            return False
        webhook_event_emit(owner=partner.owner, audience="partner", event_type=events.REVIEW_DUE,
                           key=f"{events.REVIEW_DUE}:{partner.pk}:{due:%Y-%m-%d}",
                           source=f"partners.partner:{partner.pk}",
                           data={"partner_id": str(partner.pk), "due_at": due.isoformat(),
                                 "suspend_after": (due + timedelta(days=overdue_days)).isoformat()})
    partner.review_due_since = due
    return True


def partner_review_complete(*, partner: Partner, actor, reason: str) -> PartnerReviewEvent:
    """Record a completed periodic review of an approved partner (a reason is required): an
    approved -> approved review event, the next review due after the policy's interval, and the
    partner out of the review queue."""
    reason = (reason or "").strip()
    if not reason:
        raise AppError(ErrorCode.VALIDATION_FAILED, "A reason is required.", details={"field": "reason"})
    now = timezone.now()
    with transaction.atomic():
        current = Partner.objects.select_for_update().get(pk=partner.pk)
        if current.deleted_at is not None or current.status != Partner.Status.APPROVED:
            raise AppError(ErrorCode.PARTNER_TRANSITION_NOT_ALLOWED,
                           f"Only an approved partner is reviewed; this one is {current.get_status_display().lower()}.",
                           details={"status": current.status, "action": "review_complete"})
        changes = {"next_review_at": now + timedelta(days=policy_current().review_interval_days),
                   "review_due_since": None, "updated_at": now}
        Partner.objects.filter(pk=current.pk).update(**changes)
        event = PartnerReviewEvent.objects.create(partner=current, at=now, actor=actor, from_status=current.status,
                                                  to_status=current.status, reason=reason[:500])
    for name, value in changes.items():
        setattr(partner, name, value)
    return event
