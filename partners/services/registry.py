"""The partner registry: an account applies (one live partner per account), changes its partner,
deletes it (soft: the trail stays). Review decisions are partners.services.status."""

import math
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.validation import json_object_field_clean, text_field_clean
from levqor.webhooks.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_endpoint_update,
    webhook_url_reachable_check,
    webhook_url_shape_check,
)
from levqor.webhooks.events import webhook_event_types
from levqor.webhooks.models import WebhookEndpoint
from levqor.webhooks.selectors import webhook_endpoints_of
from partners.models import Partner, PartnerReviewEvent
from partners.selectors import partner_live_for
from partners.services.policy import policy_current
from partners.services.status import partner_status_change
from partners.signals import partner_deleted

NAME_MAX = 200
EMAIL_MAX = 254
WEBHOOK_URL_MAX = 1024
METADATA_MAX_BYTES = 16 * 1024  # JSON-serialised; a partner's notes, not a document store
OWNER_FIELDS = ("name", "email", "webhook_url", "metadata")
STAFF_FIELDS = ("revenue_share",)
# The trail's marker for a soft delete (not a status: the partner keeps its last one).
DELETED = "deleted"


def _error(field: str, message: str) -> dict:
    return {"field": field, "message": message}


def _name_clean(value, errors: list) -> str | None:
    return text_field_clean(value, errors, field="name", max_length=NAME_MAX, required_message="A name is required.")


def _email_clean(value, errors: list) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.append(_error("email", "An email address is required."))
        return None
    value = value.strip()
    try:
        if len(value) > EMAIL_MAX:
            raise ValidationError("too long")
        validate_email(value)
    except ValidationError:
        errors.append(_error("email", "Enter a valid email address."))
        return None
    return value


def _webhook_url_clean(value, errors: list, url_errors: list) -> str | None:
    """Shape problems go to `url_errors` (answered invalid_webhook_url), a missing value to `errors`."""
    if not isinstance(value, str) or not value.strip():
        errors.append(_error("webhook_url", "A webhook URL is required."))
        return None
    try:
        return webhook_url_shape_check(value, field="webhook_url")
    except AppError as exc:
        url_errors.append(_error("webhook_url", exc.message))
        return None


def _webhook_url_reachable(url: str) -> None:
    """The SSRF guard, with the registry's error details (every problem in details.errors)."""
    try:
        webhook_url_reachable_check(url, field="webhook_url")
    except AppError as exc:
        exc.details["errors"] = [_error("webhook_url", exc.message)]
        raise


def _revenue_share_clean(value, errors: list) -> Decimal | None:
    message = "A number from 0 to 1 (e.g. 0.7), with at most 3 decimal places."
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        errors.append(_error("revenue_share", message))
        return None
    if isinstance(value, float) and not math.isfinite(value):
        errors.append(_error("revenue_share", message))
        return None
    try:
        share = Decimal(str(value).strip())
    except InvalidOperation:
        errors.append(_error("revenue_share", message))
        return None
    if not share.is_finite() or share < 0 or share > 1 or share != share.quantize(Decimal("0.001")):
        errors.append(_error("revenue_share", message))
        return None
    return share.quantize(Decimal("0.001"))


def _metadata_clean(value, errors: list) -> dict | None:
    return json_object_field_clean(value, errors, field="metadata", max_bytes=METADATA_MAX_BYTES)


_CLEANERS = {"name": _name_clean, "email": _email_clean, "revenue_share": _revenue_share_clean,
             "metadata": _metadata_clean}


def _fields_clean(fields: dict) -> dict:
    """Every given field checked; all problems at once (validation_failed naming each field),
    the webhook URL's own last (invalid_webhook_url), its public reachability once all else passed."""
    errors, url_errors, clean = [], [], {}
    for name, value in fields.items():
        if name == "webhook_url":
            clean[name] = _webhook_url_clean(value, errors, url_errors)
        else:
            clean[name] = _CLEANERS[name](value, errors)
    if errors:
        errors = sorted(errors + url_errors, key=lambda e: e["field"])
        raise AppError(ErrorCode.VALIDATION_FAILED, "The partner did not pass validation.", details={"errors": errors})
    if url_errors:
        raise AppError(ErrorCode.INVALID_WEBHOOK_URL, url_errors[0]["message"],
                       details={"field": "webhook_url", "errors": url_errors})
    if "webhook_url" in clean:
        _webhook_url_reachable(clean["webhook_url"])
    return clean


def partner_may_use_webhooks(user) -> bool:
    """Whether `user` may have endpoints of the "partner" audience (registered with levqor.webhooks)."""
    return partner_live_for(user) is not None


def _exists_error() -> AppError:
    return AppError(ErrorCode.PARTNER_EXISTS, "This account already has a partner; change it instead.",
                    details={"field": "owner"})


# --- the partner's webhook endpoint (the engine's table; a service of its own may replace these) --

def _partner_event_types() -> list[str]:
    return [t.name for t in webhook_event_types(audience=WebhookEndpoint.Audience.PARTNER)]


def _endpoint_create(partner: Partner) -> WebhookEndpoint:
    return webhook_endpoint_create(owner=partner.owner, audience=WebhookEndpoint.Audience.PARTNER,
                                   url=partner.webhook_url, event_types=_partner_event_types(),
                                   description="The partner's webhook_url")


def _endpoints_repoint(partner: Partner, *, old_url: str, new_url: str) -> None:
    """The endpoint(s) made from the old webhook_url follow the new one; if none is left (the owner
    removed it), one is made, so the partner's webhook_url always receives its events."""
    endpoints = list(webhook_endpoints_of(partner.owner, audience=WebhookEndpoint.Audience.PARTNER).filter(url=old_url))
    for endpoint in endpoints:
        webhook_endpoint_update(endpoint=endpoint, url=new_url)
    if not endpoints:
        _endpoint_create(partner)


def _endpoints_disable(partner: Partner, *, reason: str) -> None:
    for endpoint in webhook_endpoints_of(partner.owner, audience=WebhookEndpoint.Audience.PARTNER).filter(enabled=True):
        webhook_endpoint_disable(endpoint=endpoint, reason=reason)


# --- the registry's writes ---------------------------------------------------------------------

def partner_register(*, owner, name, email, webhook_url, revenue_share=None, metadata=None) -> Partner:
    """`owner` applies: a Partner pending approval (approved at once when the policy does not
    require approval), its first trail row, and a webhook endpoint at webhook_url subscribed to
    every partner event type. One live partner per account (PARTNER_EXISTS, also under a race).
    The endpoint made is on the returned partner as `webhook_endpoint`: its secret verifies the
    partner's events, and the caller shows it to the owner once (the API's answer, the page)."""
    policy = policy_current()
    fields = {"name": name, "email": email, "webhook_url": webhook_url, "metadata": metadata}
    if revenue_share is not None:
        fields["revenue_share"] = revenue_share
    clean = _fields_clean(fields)
    clean.setdefault("revenue_share", policy.revenue_share_default)
    if partner_live_for(owner) is not None:
        raise _exists_error()
    try:
        with transaction.atomic():
            partner = Partner.objects.create(owner=owner, status=Partner.Status.PENDING, **clean)
            PartnerReviewEvent.objects.create(partner=partner, at=partner.created_at, actor=owner, from_status="",
                                              to_status=Partner.Status.PENDING, reason="applied")
            endpoint = _endpoint_create(partner)
            if not policy.approval_required:
                partner_status_change(partner=partner, action="approve", actor=None,
                                      reason=f"Approval not required by policy v{policy.version}")
    except IntegrityError:
        # Two applications at once: the partial unique index let one through.
        if partner_live_for(owner) is not None:
            raise _exists_error() from None
        raise
    partner.webhook_endpoint = endpoint
    return partner


def partner_update(*, partner: Partner, actor, operator: bool = False, **fields) -> Partner:
    """Change a partner: its owner may change name, email, webhook_url (the endpoint made from it
    follows) and metadata (replaced whole); only an operator may change revenue_share. `operator`
    is the caller's operator standing as the API decides it (accounts.permissions.request_is_operator:
    staff, by session or by a key holding admin:read), not the actor's staff flag alone."""
    unknown = sorted(set(fields) - set(OWNER_FIELDS) - set(STAFF_FIELDS))
    if unknown:
        raise AppError(ErrorCode.VALIDATION_FAILED, "These fields cannot be changed here.", details={"errors": [
            _error(name, f"{name!r} cannot be changed" + (" (a review decision changes it)." if name.startswith(
                "status") else ".")) for name in unknown]})
    if not operator:
        if actor is None or actor.pk != partner.owner_id:
            raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner.pk)})
        for name in STAFF_FIELDS:
            if name in fields:
                raise AppError(ErrorCode.PERMISSION_DENIED, f"Only Levqor staff may change {name}.",
                               details={"field": name})
    clean = _fields_clean(fields)
    with transaction.atomic():
        current = Partner.objects.select_for_update().filter(pk=partner.pk, deleted_at__isnull=True).first()
        if current is None:
            raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner.pk)})
        old_url = current.webhook_url
        for name, value in clean.items():
            setattr(current, name, value)
        current.save(update_fields=[*clean, "updated_at"])
        if "webhook_url" in clean and clean["webhook_url"] != old_url:
            _endpoints_repoint(current, old_url=old_url, new_url=clean["webhook_url"])
    for name in ("updated_at", *clean):
        setattr(partner, name, getattr(current, name))
    return current


def partner_delete(*, partner: Partner, actor, reason: str = "") -> Partner:
    """Soft delete: the partner is gone from the registry (deleted_at), its webhook endpoints are
    disabled, `partner_deleted` lets other parts act (credentials revoked); the trail stays, with
    a row saying who deleted it."""
    now = timezone.now()
    with transaction.atomic():
        current = Partner.objects.select_for_update().filter(pk=partner.pk, deleted_at__isnull=True).first()
        if current is None:
            raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner.pk)})
        Partner.objects.filter(pk=current.pk).update(deleted_at=now, updated_at=now)
        current.deleted_at = partner.deleted_at = now
        by_owner = actor is not None and actor.pk == current.owner_id
        PartnerReviewEvent.objects.create(
            partner=current, at=now, actor=actor, from_status=current.status, to_status=DELETED,
            reason=(reason or ("Deleted by its owner." if by_owner else "Deleted by Levqor."))[:500])
        _endpoints_disable(current, reason="The partner was deleted.")
        partner_deleted.send(sender=Partner, partner=current, actor=actor)
    return current
