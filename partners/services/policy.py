"""The governance policy in force: the highest PolicyVersion, cached per process for a few
seconds (it is read on every partner request and every webhook attempt) and dropped on a new one."""

import time
from decimal import Decimal

from django.db import transaction

from levqor.errors import AppError, ErrorCode
from levqor.webhooks.policy import WebhookPolicy
from partners.models import DEFAULT_FORBIDDEN_PATHS, PolicyVersion

_CACHE_SECONDS = 5.0
_cached: tuple[float, PolicyVersion] | None = None

# The fields a new version may set (everything but the bookkeeping).
POLICY_FIELDS = ("revenue_share_default", "approval_required", "review_interval_days", "review_overdue_days",
                 "forbidden_paths", "listing_price_min_minor", "listing_price_max_minor", "https_required",
                 "webhook_timeout_seconds", "suspend_failed_webhooks", "suspend_user_reports",
                 "suspend_rating_below")


def reset() -> None:
    """Forget the cached policy (tests; a new version does it itself)."""
    global _cached
    _cached = None


def policy_default() -> PolicyVersion:
    """Version 1, as the reference policy sets it (unsaved)."""
    return PolicyVersion(version=1, revenue_share_default=Decimal("0.700"), approval_required=True,
                         review_interval_days=90, review_overdue_days=14, forbidden_paths=list(DEFAULT_FORBIDDEN_PATHS),
                         listing_price_min_minor=0, listing_price_max_minor=99999, https_required=True,
                         webhook_timeout_seconds=5, suspend_failed_webhooks=10, suspend_user_reports=5,
                         suspend_rating_below=Decimal("2.00"), reason="The reference governance policy.")


def policy_current() -> PolicyVersion:
    """The policy in force (the highest version; the default if none was stored)."""
    global _cached
    now = time.monotonic()
    if _cached is not None and now - _cached[0] < _CACHE_SECONDS:
        return _cached[1]
    policy = PolicyVersion.objects.order_by("-version").first() or policy_default()
    _cached = (now, policy)
    return policy


def policy_version_create(*, actor, reason: str, **rules) -> PolicyVersion:
    """A new policy version: the current rules with `rules` changed. A reason is required."""
    if not (reason or "").strip():
        raise AppError(ErrorCode.VALIDATION_FAILED, "A new policy version needs a reason.",
                       details={"field": "reason"})
    unknown = set(rules) - set(POLICY_FIELDS)
    if unknown:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"Unknown policy rules: {', '.join(sorted(unknown))}.",
                       details={"fields": sorted(unknown)})
    current = policy_current()
    values = {name: rules.get(name, getattr(current, name)) for name in POLICY_FIELDS}
    with transaction.atomic():
        # The top row locked: two new versions at once get consecutive numbers (the unique version backs it).
        top = PolicyVersion.objects.select_for_update().order_by("-version").first()
        policy = PolicyVersion(version=(top.version if top else 0) + 1, created_by=actor, reason=reason.strip(), **values)
        policy.full_clean()
        policy.save()
        reset()  # this process at once, every other within _CACHE_SECONDS
        transaction.on_commit(reset)
    return policy


def policy_webhook_policy() -> WebhookPolicy:
    """What the webhook engine asks of the policy (registered in PartnersConfig.ready())."""
    policy = policy_current()
    return WebhookPolicy(timeout_seconds=float(policy.webhook_timeout_seconds),
                         disable_after_failures=policy.suspend_failed_webhooks,
                         https_required=policy.https_required)
