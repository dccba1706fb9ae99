"""django-q2 entry points of the partners app: load ids, call a service."""

import logging

from django.contrib.auth import get_user_model

from levqor.tasks_queue import task_enqueue
from partners.models import Partner
from partners.services import audits, governance, reviews

logger = logging.getLogger("levqor.partners")


def partner_audits_due() -> int:
    """The daily look for quarterly audits: one task per partner due (at most AUDITS_PER_RUN)."""
    ids = audits.partner_audits_due()
    for pk in ids:
        task_enqueue("partners.tasks.partner_audit_run", str(pk), "scheduled")
    return len(ids)


def partner_audit_run(partner_id: str, trigger: str = "scheduled", actor_id=None):
    """Audit one partner. A scheduled audit that is no longer due (queued twice, or audited by hand
    meanwhile) is skipped."""
    partner = Partner.objects.filter(pk=partner_id).first()
    if partner is None:
        return None
    if trigger == "scheduled" and not audits.partner_audit_is_due(partner=partner):
        return None
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return audits.partner_audit_run(partner=partner, trigger=trigger, actor=actor).pk


def partner_review_cycle() -> dict:
    """The daily review cycle (partners.services.reviews)."""
    result = reviews.partner_review_cycle_run()
    return {"marked_due": len(result.marked_due), "suspended": len(result.suspended)}


def governance_sweep() -> dict:
    """The daily schedule partners.governance_sweep: every approved partner against the auto-suspend rules."""
    return governance.partner_governance_sweep()
