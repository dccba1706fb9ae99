"""Auto-suspend: the policy's suspend_* thresholds applied to an approved partner.

A safety action: it protects users from a partner many of them report, rate badly, or whose
endpoint keeps failing, so it is applied in stabilize mode too. It deliberately does not ask the
automation guard (intelligence's automation_allowed), which holds changes made for the business's
sake (tuning, pricing) while operators stabilize; holding a suspension would leave users exposed
for as long as the incident lasts (ARCHITECTURE.md: safety actions do not ask it).

Rules (each names its numbers in the suspension's reason):
- suspend_user_reports: open or upheld reports from that many distinct users;
- suspend_rating_below: rating_avg under it, once at least RATING_MIN_COUNT users rated;
- suspend_failed_webhooks: the engine disabled the partner's endpoint after that many
  consecutive failed deliveries (levqor.webhooks.signals.webhook_endpoint_disabled).

Evidence counts from the partner's last approval or reinstatement (verified_at): staff who
reinstate a partner have weighed what came before, so the next check does not suspend it again
for the same reports, the same ratings or the same disabled endpoint; anything new (a report, a
rating given or changed, a policy version) counts again."""

import logging

from django.db import transaction
from django.db.models import Max

from levqor.errors import AppError, ErrorCode
from levqor.webhooks.models import WebhookEndpoint
from partners.models import Partner, PartnerRating, PartnerReviewEvent, PolicyVersion
from partners.selectors import partner_reports_counted
from partners.services.policy import policy_current
from partners.services.rating_sources import rating_sources_totals
from partners.services.status import partner_status_change

logger = logging.getLogger("levqor.partners")

# Fewer ratings than this never suspend: one angry user must not take a partner down (an
# interpretation of "rating below 2.0": the policy names no minimum; README states it).
RATING_MIN_COUNT = 3


def _reports_rule(partner: Partner, policy: PolicyVersion) -> str | None:
    reporters = partner_reports_counted(partner=partner)
    if reporters < policy.suspend_user_reports:
        return None
    return (f"Auto-suspended (policy v{policy.version}, suspend_user_reports): {reporters} users reported this "
            f"partner (open or upheld reports); the policy suspends at {policy.suspend_user_reports}.")


def partner_raters_count(partner_id) -> int:
    """How many people rated the partner: its own ratings' users and the registered sources' (a
    listing review) together, each user once."""
    own = set(PartnerRating.objects.filter(partner_id=partner_id).values_list("user_id", flat=True))
    return len(own | rating_sources_totals(partner_id).user_ids)


def _rating_rule(partner: Partner, policy: PolicyVersion) -> str | None:
    avg, count = partner.rating_avg, partner.rating_count
    if avg is None or count < RATING_MIN_COUNT or avg >= policy.suspend_rating_below:
        return None
    raters = partner_raters_count(partner.pk)
    if raters < RATING_MIN_COUNT:
        return None  # one account's several reviews are one voice
    if partner.verified_at is not None and policy.created_at < partner.verified_at:
        latest = PartnerRating.objects.filter(partner_id=partner.pk).aggregate(at=Max("updated_at"))["at"]
        other = rating_sources_totals(partner.pk).latest_at  # a listing review counts as new evidence too
        if other is not None and (latest is None or other > latest):
            latest = other
        if latest is None or latest < partner.verified_at:
            return None  # nothing new since staff last approved it
    return (f"Auto-suspended (policy v{policy.version}, suspend_rating_below): average rating {avg} from {count} "
            f"ratings by {raters} users is below {policy.suspend_rating_below}.")


def _webhook_rule(partner: Partner, policy: PolicyVersion, disabled_endpoint: WebhookEndpoint | None,
                  disabled_reason: str) -> str | None:
    endpoint = disabled_endpoint
    if endpoint is None:
        # The daily sweep: an endpoint the engine disabled that the policy (perhaps lowered since) counts.
        endpoints = WebhookEndpoint.objects.filter(owner_id=partner.owner_id, audience=WebhookEndpoint.Audience.PARTNER,
                                                   enabled=False,
                                                   consecutive_failures__gte=policy.suspend_failed_webhooks)
        if partner.verified_at is not None:
            endpoints = endpoints.filter(disabled_at__gte=partner.verified_at)
        endpoint = endpoints.order_by("-disabled_at").first()
        if endpoint is None:
            return None
    failures = endpoint.consecutive_failures or policy.suspend_failed_webhooks
    detail = f" ({disabled_reason.strip()})" if disabled_reason and disabled_reason.strip() else ""
    return (f"Auto-suspended (policy v{policy.version}, suspend_failed_webhooks): webhook endpoint {endpoint.url} was "
            f"disabled after {failures} consecutive failed deliveries{detail}; the policy suspends at "
            f"{policy.suspend_failed_webhooks}.")[:500]


def partner_auto_suspend_check(*, partner: Partner, disabled_endpoint: WebhookEndpoint | None = None,
                               disabled_reason: str = "") -> PartnerReviewEvent | None:
    """Suspend `partner` (actor None, the reason naming the rule and its numbers) when it is
    approved and a suspend_* rule of the policy in force holds; `disabled_endpoint` is one of its
    endpoints the engine just disabled. Returns the review event, or None when nothing applies."""
    current = Partner.objects.filter(pk=partner.pk).first()
    if current is None or not current.is_approved:
        return None
    policy = policy_current()
    reason = (_reports_rule(current, policy) or _rating_rule(current, policy)
              or _webhook_rule(current, policy, disabled_endpoint, disabled_reason))
    if reason is None:
        return None
    try:
        event = partner_status_change(partner=current, action="suspend", actor=None, reason=reason)
    except AppError as exc:
        if exc.code != ErrorCode.PARTNER_TRANSITION_NOT_ALLOWED:
            raise
        return None  # suspended (or deleted) meanwhile by someone else: nothing left to do
    partner.status, partner.status_reason = current.status, current.status_reason
    logger.warning("partner %s auto-suspended: %s", current.pk, reason)
    return event


def partner_auto_suspend_check_safely(*, partner_id) -> PartnerReviewEvent | None:
    """partner_auto_suspend_check for after a commit (a rating, a report): the user's request
    already succeeded, so a failure here is logged as an error, never turned into a 500. The
    daily sweep checks every approved partner again."""
    try:
        return partner_auto_suspend_check(partner=Partner(pk=partner_id))
    except Exception:
        logger.exception("auto-suspend check of partner %s failed", partner_id)
        return None


def partner_auto_suspend_after_commit(*, partner: Partner) -> None:
    """Check `partner` against the auto-suspend rules once the current transaction commits."""
    partner_id = partner.pk
    transaction.on_commit(lambda: partner_auto_suspend_check_safely(partner_id=partner_id))


def partner_endpoint_disabled(sender, *, endpoint: WebhookEndpoint, reason: str = "", **kwargs) -> None:
    """Receiver of levqor.webhooks' webhook_endpoint_disabled (sent after the engine's commit): a
    partner endpoint disabled after the policy's consecutive failures suspends its owner's live,
    approved partner. Account endpoints are not the partner's business."""
    if endpoint.audience != WebhookEndpoint.Audience.PARTNER:
        return
    partner = Partner.objects.filter(owner_id=endpoint.owner_id, deleted_at__isnull=True,
                                     status=Partner.Status.APPROVED).first()
    if partner is None:
        return
    try:
        partner_auto_suspend_check(partner=partner, disabled_endpoint=endpoint, disabled_reason=reason)
    except Exception:
        # The engine's disable stands (committed); the daily sweep tries the suspension again.
        logger.exception("auto-suspend of partner %s after its endpoint %s was disabled failed", partner.pk,
                         endpoint.pk)


def partner_governance_sweep() -> dict:
    """Check every approved partner against the policy in force (the daily schedule: catches a new
    policy version's thresholds and any check that failed after its commit). {"checked", "suspended"}."""
    checked = suspended = 0
    ids = Partner.objects.filter(status=Partner.Status.APPROVED, deleted_at__isnull=True).values_list("pk", flat=True)
    for partner_id in ids.iterator(chunk_size=500):
        checked += 1
        try:
            if partner_auto_suspend_check(partner=Partner(pk=partner_id)) is not None:
                suspended += 1
        except Exception:
            logger.exception("governance sweep: auto-suspend check of partner %s failed", partner_id)
    return {"checked": checked, "suspended": suspended}
