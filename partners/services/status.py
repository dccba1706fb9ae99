"""A partner's status changes: review decisions, suspensions by governance, reinstatement. Each is
one append-only PartnerReviewEvent; the partner is told by email and by webhook."""

import logging
from datetime import timedelta

from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.site import site_url
from levqor.webhooks.services import webhook_event_emit
from partners import events
from partners.models import Partner, PartnerReviewEvent
from partners.services.policy import policy_current

logger = logging.getLogger("levqor.partners")
S = Partner.Status

# What may follow what, and the action's name (admin, API, audit trail).
TRANSITIONS = {
    "approve": ({S.PENDING}, S.APPROVED),
    "reject": ({S.PENDING}, S.REJECTED),
    "suspend": ({S.APPROVED, S.PENDING}, S.SUSPENDED),
    "reinstate": ({S.SUSPENDED}, S.APPROVED),
}


def partner_status_change(*, partner: Partner, action: str, actor, reason: str,
                          expected: dict | None = None) -> PartnerReviewEvent:
    """Apply review action `action` ("approve", "reject", "suspend", "reinstate") with a required
    reason; actor None is the system (auto-suspend, review cycle). Compare-and-set on the status, so
    two reviewers at once cannot both move it. `expected` ({field: value}) is what the caller decided
    on, checked again under the row lock: if any field changed meanwhile (e.g. a review completed
    while the review cycle was suspending the partner as overdue), nothing changes and
    PARTNER_TRANSITION_NOT_ALLOWED says so. Email and webhook go out after the commit."""
    if not isinstance(reason, str | None):
        raise AppError(ErrorCode.VALIDATION_FAILED, "The reason is text.", details={"field": "reason"})
    reason = (reason or "").strip()
    if not reason:
        raise AppError(ErrorCode.VALIDATION_FAILED, "A reason is required.", details={"field": "reason"})
    if not isinstance(action, str) or action not in TRANSITIONS:  # a list or dict is no action (nor hashable)
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown review action {action!r}.",
                       details={"field": "action", "allowed": sorted(TRANSITIONS)})
    allowed_from, to = TRANSITIONS[action]
    now = timezone.now()
    with transaction.atomic():
        current = Partner.objects.select_for_update().get(pk=partner.pk)
        if current.deleted_at is not None or current.status not in allowed_from:
            raise AppError(ErrorCode.PARTNER_TRANSITION_NOT_ALLOWED,
                           f"A {current.get_status_display().lower()} partner cannot be {action}d.",
                           details={"status": current.status, "action": action})
        changed = sorted(name for name, value in (expected or {}).items() if getattr(current, name) != value)
        if changed:
            raise AppError(ErrorCode.PARTNER_TRANSITION_NOT_ALLOWED,
                           f"The partner changed meanwhile ({', '.join(changed)}); it is not {action}d.",
                           details={"status": current.status, "action": action, "changed": changed})
        # .update() skips auto_now: updated_at is set here, or it would never move on a decision.
        changes = {"status": to, "status_reason": reason[:500], "status_changed_at": now, "updated_at": now}
        if to == S.APPROVED:
            changes["verified_at"] = now
            changes["next_review_at"] = now + timedelta(days=policy_current().review_interval_days)
            changes["review_due_since"] = None
        Partner.objects.filter(pk=current.pk).update(**changes)
        event = PartnerReviewEvent.objects.create(partner=current, at=now, actor=actor, from_status=current.status,
                                                  to_status=to, reason=reason[:500])
        for name, value in changes.items():
            setattr(partner, name, value)
        _notify(partner, event)
    return event


def _notify(partner: Partner, event: PartnerReviewEvent) -> None:
    """The webhook (in this transaction: the delivery rows commit with the change) and the email (after it)."""
    event_type = {S.APPROVED: events.PARTNER_VERIFIED, S.SUSPENDED: events.PARTNER_SUSPENDED}.get(event.to_status)
    if event_type:
        webhook_event_emit(owner=partner.owner, audience="partner", event_type=event_type,
                           key=f"{event_type}:{partner.pk}:{event.pk}", source=f"partners.partner:{partner.pk}",
                           data={"partner_id": str(partner.pk), "status": event.to_status,
                                 "previous_status": event.from_status, "reason": event.reason,
                                 "at": event.at.isoformat()})
    email, subject, body = partner.email, _subject(partner, event), _body(partner, event)
    transaction.on_commit(lambda: _email_send(email, subject, body))


def _subject(partner: Partner, event: PartnerReviewEvent) -> str:
    return f"Levqor partner {partner.name}: {Partner.Status(event.to_status).label.lower()}"


def _body(partner: Partner, event: PartnerReviewEvent) -> str:
    return (f"Your Levqor partner account \"{partner.name}\" is now {Partner.Status(event.to_status).label.lower()} "
            f"(it was {Partner.Status(event.from_status).label.lower() if event.from_status else 'new'}).\n\n"
            f"Reason: {event.reason}\n\nYour partner account: {site_url('/partners')}")


def _email_send(email: str, subject: str, body: str) -> None:
    # The decision stands if the mail server is out of reach: logged, never a 500 after the commit.
    try:
        EmailMessage(subject=subject, body=body, to=[email]).send()
    except Exception:
        logger.warning("could not email partner status change to %s", email, exc_info=True)
