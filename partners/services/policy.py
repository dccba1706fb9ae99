"""The governance policy in force: the highest PolicyVersion, cached per process for a few
seconds (it is read on every partner request and every webhook attempt) and dropped on a new one."""

import time
from decimal import Decimal

from django.core.exceptions import ValidationError
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
        try:
            policy.full_clean()  # the fields' own limits and PolicyVersion.clean(), as the admin's form runs them
        except ValidationError as exc:
            raise AppError(ErrorCode.VALIDATION_FAILED, "The new policy version does not validate.",
                           details={"errors": validation_errors(exc)}) from exc
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


def validation_errors(exc: ValidationError) -> list[dict]:
    """Django's field errors as the API's [{"field", "message"}] (sorted by field)."""
    found = exc.message_dict if hasattr(exc, "error_dict") else {"body": exc.messages}
    return [{"field": "body" if field == "__all__" else field, "message": message}
            for field in sorted(found) for message in found[field]]


def policy_changes(old: PolicyVersion | None, new: PolicyVersion) -> list[tuple[str, object, object]]:
    """What `new` changes against `old`: (rule, old value, new value) for each rule that differs,
    in the policy's order (the admin shows it; nothing when there is no older version)."""
    if old is None:
        return []
    return [(name, getattr(old, name), getattr(new, name)) for name in POLICY_FIELDS
            if _comparable(getattr(old, name)) != _comparable(getattr(new, name))]


def _comparable(value):
    # Decimal("0.7") and Decimal("0.700") are the same rule; a form may hand either.
    return Decimal(str(value)).normalize() if isinstance(value, Decimal | float) else value


def policy_listing_price_check(*, amount_minor: int) -> None:
    """Rule listing_price_min_minor..listing_price_max_minor: a listing's price must be in the
    policy's range (in minor units of the listing's currency). Raises validation_failed naming
    the range; the marketplace calls it when a listing is created or repriced."""
    policy = policy_current()
    low, high = policy.listing_price_min_minor, policy.listing_price_max_minor
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or not low <= amount_minor <= high:
        raise AppError(ErrorCode.VALIDATION_FAILED,
                       f"The price must be between {low} and {high} (minor units, e.g. cents), under policy "
                       f"v{policy.version}.",
                       details={"errors": [{"field": "amount_minor",
                                            "message": f"Must be an integer from {low} to {high}."}],
                                "min_minor": low, "max_minor": high, "policy_version": policy.version})
