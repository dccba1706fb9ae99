"""Partner audits: every check run against one partner, its findings stored (PartnerAudit) and sent
to the partner as an `audit.completed` webhook. An audit records; it never changes the partner's
status (auto-suspension is governance's, on its own thresholds)."""

import logging
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from levqor.webhooks.models import WebhookDelivery, WebhookEndpoint
from levqor.webhooks.policy import webhook_https_required, webhook_policy
from levqor.webhooks.post import webhook_post
from levqor.webhooks.services import webhook_body, webhook_event_emit, webhook_msg_id
from levqor.webhooks.signing import webhook_headers, webhook_secret_generate, webhook_sign
from partners import events
from partners.models import Partner, PartnerAudit
from partners.selectors import partner_reports_counted
from partners.services.governance import RATING_MIN_COUNT
from partners.services.policy import policy_current

logger = logging.getLogger("levqor.partners")

# Quarterly: an approved partner is due for a scheduled audit this long after its last one (or
# after its approval when it was never audited).
AUDIT_INTERVAL = timedelta(days=90)
# The failed deliveries the audit counts, and how many partners one scheduled run hands out.
FAILED_DELIVERIES_WINDOW = timedelta(days=30)
AUDITS_PER_RUN = 200
# The type of the signed test message: sent directly to the endpoint, never stored as a delivery.
PING_EVENT_TYPE = "audit.ping"
USER_AGENT = "Levqor-Audit/1"

INFO, WARNING, CRITICAL = "info", "warning", "critical"


@dataclass
class Finding:
    check: str
    ok: bool
    severity: str
    detail: str


def _ok(check: str, detail: str) -> Finding:
    return Finding(check, True, INFO, detail)


def partner_audit_run(*, partner: Partner, trigger: str, actor=None) -> PartnerAudit:
    """Audit `partner` now ("scheduled" or "manual"; actor: who asked, None for the schedule): its
    webhook endpoints answer and verify signatures, https, still approved, reports, rating, failed
    deliveries, review not overdue. The network checks run outside any transaction; the audit row
    and its `audit.completed` webhook are written together."""
    if trigger not in PartnerAudit.Trigger.values:
        raise ValueError(f"unknown audit trigger {trigger!r}")
    started = timezone.now()
    policy = policy_current()
    partner = Partner.objects.select_related("owner").get(pk=partner.pk)  # what it is now, not what the caller held
    endpoints = list(WebhookEndpoint.objects.filter(owner_id=partner.owner_id, audience=WebhookEndpoint.Audience.PARTNER)
                     .order_by("created_at"))
    findings = [
        *_endpoint_findings(partner, endpoints),
        *_https_findings(partner, endpoints),
        _status_finding(partner),
        _reports_finding(partner, policy),
        _rating_finding(partner, policy),
        *_delivery_findings(endpoints, policy, now=started),
        _review_finding(partner, policy, now=started),
    ]
    outcome = audit_outcome(findings)
    with transaction.atomic():
        audit = PartnerAudit.objects.create(partner=partner, trigger=trigger, requested_by=actor, started_at=started,
                                            finished_at=timezone.now(), outcome=outcome,
                                            findings=[asdict(f) for f in findings], policy_version=policy.version)
        webhook_event_emit(owner=partner.owner, audience="partner", event_type=events.AUDIT_COMPLETED,
                           key=f"{events.AUDIT_COMPLETED}:{audit.pk}", source=f"partners.audit:{audit.pk}",
                           data={"partner_id": str(partner.pk), "audit_id": audit.pk, "outcome": outcome,
                                 "findings": audit.findings})
    logger.info("partner audit %s of %s: %s", audit.pk, partner.pk, outcome)
    return audit


def audit_outcome(findings: list[Finding]) -> str:
    """fail if any finding is critical, warn if any is a warning, else pass."""
    severities = {f.severity for f in findings if not f.ok}
    if CRITICAL in severities:
        return PartnerAudit.Outcome.FAIL
    return PartnerAudit.Outcome.WARN if WARNING in severities else PartnerAudit.Outcome.PASS


# --- (a) the endpoints answer a signed message and refuse a wrongly signed one ----------------------

def _endpoint_findings(partner: Partner, endpoints: list[WebhookEndpoint]) -> list[Finding]:
    if not endpoints:
        return [Finding("endpoint_answers", False, WARNING,
                        "No partner webhook endpoint: the partner receives no events (partner.verified, "
                        "review.due, audit.completed), and signature checking cannot be audited.")]
    found = []
    for endpoint in endpoints:
        if not endpoint.enabled:
            found.append(Finding("endpoint_answers", False, WARNING,
                                 f"{endpoint.url}: disabled ({endpoint.disabled_reason or 'no reason given'}), not "
                                 f"checked."))
            continue
        found += _endpoint_probe(partner, endpoint)
    return found


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """(status code, "") or (None, why it could not be reached): the engine's POST (https where
    required, the SSRF guard, no redirects, the policy's timeout as a deadline on the whole exchange)."""
    timeout = webhook_policy().timeout_seconds
    result = webhook_post(url, body=body, headers={**headers, "user-agent": USER_AGENT}, timeout=timeout)
    if result.refused:
        return None, f"not sent: {result.error.rstrip('.')}"
    if result.timed_out:
        return None, f"no answer within {timeout:g} s"
    if result.status_code is None:
        return None, f"could not be reached ({result.error.split(':', 1)[0]})"
    return result.status_code, ""


def _endpoint_probe(partner: Partner, endpoint: WebhookEndpoint) -> list[Finding]:
    url = endpoint.url
    msg_id = webhook_msg_id()
    now = int(time.time())
    body = webhook_body(event_type=PING_EVENT_TYPE, msg_id=msg_id,
                        data={"partner_id": str(partner.pk), "purpose": "Audit: a signed test message."}).encode()
    # During a rotation overlap the message carries both signatures, as every real delivery does.
    headers = webhook_headers(secret=endpoint.signing_secrets(), msg_id=msg_id, timestamp=now, body=body)
    status, error = _post(url, body, headers)
    if status is None or not 200 <= status < 300:
        why = error or f"answered HTTP {status}"
        return [Finding("endpoint_answers", False, CRITICAL,
                        f"{url}: a correctly signed test message was not accepted: {why}.")]
    found = [_ok("endpoint_answers", f"{url}: accepted a correctly signed test message (HTTP {status}).")]
    # The same message signed with a secret that is not the endpoint's: a receiver that verifies refuses it.
    wrong = {**headers, "webhook-signature": webhook_sign(secret=webhook_secret_generate(), msg_id=msg_id,
                                                          timestamp=now, body=body)}
    status, error = _post(url, body, wrong)
    if status is not None and 400 <= status < 500:
        found.append(_ok("endpoint_verifies_signatures", f"{url}: refused a wrongly signed message (HTTP {status})."))
    elif status is not None and 200 <= status < 300:
        found.append(Finding("endpoint_verifies_signatures", False, CRITICAL,
                             f"{url}: accepted a wrongly signed message (HTTP {status}): it does not verify "
                             f"signatures, so anyone can send it events in our name."))
    else:
        why = error or f"answered HTTP {status}"
        found.append(Finding("endpoint_verifies_signatures", False, WARNING,
                             f"{url}: a wrongly signed message should be refused with a 4xx; it {why}."))
    return found


# --- (b) https -----------------------------------------------------------------------------------------

def _https_findings(partner: Partner, endpoints: list[WebhookEndpoint]) -> list[Finding]:
    urls = list(dict.fromkeys([partner.webhook_url, *(e.url for e in endpoints)]))
    plain = [u for u in urls if u and urlsplit(u).scheme != "https"]
    if not plain:
        return [_ok("https", "Every webhook URL is https.")]
    required = webhook_https_required()
    rule = ("https is required here (the policy, in production)" if required
            else "https is not enforced here, it will be in production")
    return [Finding("https", False, CRITICAL if required else WARNING, f"{url} is not https: {rule}.") for url in plain]


# --- (c) status, (d) reports, (e) rating ---------------------------------------------------------------

def _status_finding(partner: Partner) -> Finding:
    if partner.deleted_at is not None:
        return Finding("status", False, CRITICAL, f"The partner was deleted on {partner.deleted_at:%Y-%m-%d}.")
    if partner.status != Partner.Status.APPROVED:
        reason = f": {partner.status_reason}" if partner.status_reason else ""
        return Finding("status", False, WARNING,
                       f"The partner is {partner.get_status_display().lower()}{reason}; it may not use the partner API.")
    return _ok("status", "Approved.")


def _reports_finding(partner: Partner, policy) -> Finding:
    count = partner_reports_counted(partner=partner)  # the number auto-suspend counts
    limit = policy.suspend_user_reports
    text = f"{count} open or upheld report(s) by different users since the last approval; the policy suspends at {limit}."
    if count >= limit:
        return Finding("reports", False, CRITICAL, text)
    return Finding("reports", False, WARNING, text) if count else _ok("reports", text)


def _rating_finding(partner: Partner, policy) -> Finding:
    if not partner.rating_count or partner.rating_avg is None:
        return _ok("rating", "No ratings yet.")
    floor = policy.suspend_rating_below
    text = f"Average rating {partner.rating_avg} from {partner.rating_count} rating(s); the policy suspends below {floor}."
    if partner.rating_avg < floor:
        if partner.rating_count < RATING_MIN_COUNT:  # below the floor, but too few ratings for the rule to count
            return Finding("rating", False, WARNING, f"{text} Auto-suspend counts it from {RATING_MIN_COUNT} ratings.")
        return Finding("rating", False, CRITICAL, text)
    # Within one star of the floor: a warning before it is reached.
    return Finding("rating", False, WARNING, text) if partner.rating_avg < floor + 1 else _ok("rating", text)


# --- (f) failed deliveries --------------------------------------------------------------------------------

def _delivery_findings(endpoints: list[WebhookEndpoint], policy, *, now) -> list[Finding]:
    limit = policy.suspend_failed_webhooks
    failed = WebhookDelivery.objects.filter(endpoint__in=[e.pk for e in endpoints],
                                            status=WebhookDelivery.Status.FAILED,
                                            created_at__gte=now - FAILED_DELIVERIES_WINDOW).count()
    text = f"{failed} failed deliveries in the last 30 days; the policy's limit is {limit}."
    found = [Finding("failed_deliveries", False, CRITICAL if failed >= limit else WARNING, text) if failed
             else _ok("failed_deliveries", text)]
    for endpoint in endpoints:
        streak = endpoint.consecutive_failures
        text = f"{endpoint.url}: {streak} consecutive failure(s); disabled at {limit}."
        found.append(Finding("consecutive_failures", False, CRITICAL if streak >= limit else WARNING, text) if streak
                     else _ok("consecutive_failures", text))
    return found


# --- (g) review --------------------------------------------------------------------------------------------

def _review_finding(partner: Partner, policy, *, now) -> Finding:
    due = partner.next_review_at
    if due is None:
        return _ok("review", "No periodic review scheduled (the partner is not approved).")
    if due > now:
        return _ok("review", f"Next review due on {due:%Y-%m-%d}.")
    late = (now - due).days
    text = (f"The periodic review is overdue since {due:%Y-%m-%d} ({late} day(s)); the partner is suspended "
            f"after {policy.review_overdue_days} days.")
    return Finding("review", False, CRITICAL if late >= policy.review_overdue_days else WARNING, text)


# --- the quarterly schedule ---------------------------------------------------------------------------------

def _due(now):
    """Approved live partners whose last audit (never audited: their approval) is AUDIT_INTERVAL old."""
    last_audit = Subquery(PartnerAudit.objects.filter(partner=OuterRef("pk")).order_by("-started_at")
                          .values("started_at")[:1])
    return (Partner.objects.filter(status=Partner.Status.APPROVED, deleted_at__isnull=True)
            .annotate(last_audit=Coalesce(last_audit, "verified_at", "created_at"))
            .filter(last_audit__lte=now - AUDIT_INTERVAL))


def partner_audits_due(*, now=None, limit: int = AUDITS_PER_RUN) -> list:
    """Ids of the partners due for their quarterly audit, the longest-waiting first, at most `limit`
    (the rest wait for the next daily run)."""
    return list(_due(now or timezone.now()).order_by(F("last_audit").asc(), "pk").values_list("pk", flat=True)[:limit])


def partner_audit_is_due(*, partner: Partner, now=None) -> bool:
    """Whether `partner` is still due (a scheduled audit queued twice runs once)."""
    return _due(now or timezone.now()).filter(pk=partner.pk).exists()
