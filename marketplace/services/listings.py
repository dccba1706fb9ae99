"""A partner's listings: created pending review, reviewed by staff (approve -> published, reject with
a reason), changed by the partner (a published listing whose price, endpoint or input schema
changes goes back to review), delisted by the partner or staff, relisted by the partner (back to
review). Every status change is one append-only ListingReviewEvent; the review decisions reach
the partner's webhook endpoints (listing.approved / listing.rejected)."""

import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from levqor.errors import AppError, ErrorCode
from levqor.rotating_secret import ROTATION_FIELDS, ROTATION_OVERLAP_MAX, secret_rotate
from levqor.webhooks.services import webhook_event_emit
from levqor.webhooks.signing import webhook_secret_generate
from marketplace import events
from marketplace.models import Listing, ListingReviewEvent
from marketplace.services.listing_checks import LISTING_FIELDS, listing_fields_clean, listing_invalid
from partners.models import Partner

S = Listing.Status
SLUG_BASE_MAX = 50  # the slug column holds 60: room for a "-<n>" suffix
# What a review decision does: (from, to).
REVIEW_ACTIONS = {"approve": (S.PENDING_REVIEW, S.PUBLISHED), "reject": (S.PENDING_REVIEW, S.REJECTED)}
# A published listing whose buyers would run something else after these change is reviewed again.
REVIEWED_FIELDS = ("amount_minor", "currency", "endpoint", "input_schema")
REASON_MAX = 500


def _partner_approved(partner: Partner) -> None:
    if partner.deleted_at is not None or partner.status != Partner.Status.APPROVED:
        raise AppError(ErrorCode.PARTNER_NOT_APPROVED, "Only an approved partner may create or change listings.",
                       details={"partner_status": partner.status if partner.deleted_at is None else "deleted"})


def _owner_check(listing: Listing, actor) -> None:
    """The listing's partner's owner only; anyone else is told nothing about it (404)."""
    if actor is None or listing.partner.owner_id != actor.pk:
        raise AppError(ErrorCode.NOT_FOUND, "No such listing.", details={"listing_id": str(listing.pk)})


def _reason(value, *, required: bool, default: str = "") -> str:
    if value is not None and not isinstance(value, str):
        raise listing_invalid([{"field": "reason", "message": "Text."}])
    value = (value or "").strip()
    if required and not value:
        raise listing_invalid([{"field": "reason", "message": "A reason is required."}], "A reason is required.")
    if len(value) > REASON_MAX:
        raise listing_invalid([{"field": "reason", "message": f"At most {REASON_MAX} characters."}])
    return value or default


def listing_slug_for(name: str) -> str:
    """A free slug from the name ("Text Summariser" -> "text-summariser", then "-2", "-3"...)."""
    base = slugify(name)[:SLUG_BASE_MAX].strip("-") or "module"
    taken = set(Listing.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _event(listing: Listing, *, actor, from_status: str, to_status: str, reason: str, at) -> ListingReviewEvent:
    return ListingReviewEvent.objects.create(listing=listing, at=at, actor=actor, from_status=from_status,
                                             to_status=to_status, reason=reason[:REASON_MAX])


def listing_create(*, partner: Partner, actor, name=None, category=None, price=None, amount_minor=None,
                   currency=None, description=None, metadata=None, input_schema=None, endpoint=None) -> Listing:
    """A new listing of an approved partner, pending review, with a fresh signing secret. The
    returned listing carries that secret as `signing_secret_once`: the one time it is shown (the
    partner verifies Levqor's calls to its endpoint with it). Validation names every bad field."""
    _partner_approved(partner)
    if actor is not None and partner.owner_id != actor.pk:
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only the partner's owner may create its listings.")
    clean = listing_fields_clean({"name": name, "category": category, "price": price, "amount_minor": amount_minor,
                                  "currency": currency, "description": description, "metadata": metadata,
                                  "input_schema": input_schema, "endpoint": endpoint})
    secret = webhook_secret_generate()
    for attempt in range(5):
        slug = listing_slug_for(clean["name"])
        if attempt:  # lost a race for the slug: a random suffix cannot clash again in practice
            slug = f"{slug[:SLUG_BASE_MAX]}-{secrets.token_hex(3)}"
        now = timezone.now()
        try:
            with transaction.atomic():
                listing = Listing.objects.create(partner=partner, slug=slug, secret=secret, status=S.PENDING_REVIEW,
                                                 status_changed_at=now, created_at=now, **clean)
                _event(listing, actor=actor, from_status="", to_status=S.PENDING_REVIEW, reason="Created", at=now)
        except IntegrityError:
            if Listing.objects.filter(slug=slug).exists():
                continue
            raise
        listing.signing_secret_once = secret
        return listing
    raise AppError(ErrorCode.SERVICE_UNAVAILABLE, "Could not find a free slug for the listing; try again.")


def listing_update(*, listing: Listing, actor, **fields) -> Listing:
    """The partner changes its listing (any of LISTING_FIELDS; the slug never changes). A published
    listing whose price, currency, endpoint or input schema changes goes back to pending review,
    and so does a rejected one changed at all (a resubmission); both are audited."""
    unknown = sorted(set(fields) - set(LISTING_FIELDS))
    if unknown:
        raise listing_invalid([{"field": f, "message": f"{f!r} is not an accepted field."} for f in unknown])
    _owner_check(listing, actor)
    _partner_approved(listing.partner)
    clean = listing_fields_clean(fields, current=listing)
    now = timezone.now()
    with transaction.atomic():
        current = Listing.objects.select_for_update().get(pk=listing.pk)
        changed = sorted(name for name, value in clean.items() if getattr(current, name) != value)
        if not changed:
            return current
        to_status = current.status
        if (current.status == S.PUBLISHED and set(changed) & set(REVIEWED_FIELDS)) or current.status == S.REJECTED:
            to_status = S.PENDING_REVIEW
        for name in changed:
            setattr(current, name, clean[name])
        update = [*changed, "updated_at"]
        if to_status != current.status:
            reason = f"Changed by the partner ({', '.join(changed)}): reviewed again."
            _event(current, actor=actor, from_status=current.status, to_status=to_status, reason=reason, at=now)
            current.status, current.status_reason, current.status_changed_at = to_status, reason, now
            update += ["status", "status_reason", "status_changed_at"]
        current.save(update_fields=update)
    return current


def _transition(listing: Listing, *, actor, allowed_from, to_status: str, reason: str, action: str,
                expected_updated_at=None):
    """Compare-and-set under the row lock: (listing as it is now, the trail row). With
    `expected_updated_at` (what the reviewer saw), a listing changed since is not decided: 409."""
    now = timezone.now()
    current = Listing.objects.select_for_update().select_related("partner").get(pk=listing.pk)
    if expected_updated_at is not None and current.updated_at != expected_updated_at:
        raise AppError(ErrorCode.LISTING_TRANSITION_NOT_ALLOWED,
                       "The listing changed since you opened it; look again before deciding.",
                       details={"status": current.status, "action": action, "changed_since": True,
                                "updated_at": current.updated_at.isoformat()})
    if current.status not in allowed_from:
        raise AppError(ErrorCode.LISTING_TRANSITION_NOT_ALLOWED,
                       f"A listing that is {current.get_status_display().lower()} cannot be {action}.",
                       details={"status": current.status, "action": action})
    event = _event(current, actor=actor, from_status=current.status, to_status=to_status, reason=reason, at=now)
    current.status, current.status_reason, current.status_changed_at = to_status, reason[:REASON_MAX], now
    fields = ["status", "status_reason", "status_changed_at", "updated_at"]
    if to_status == S.PUBLISHED:
        current.published_at = now
        fields.append("published_at")
    current.save(update_fields=fields)
    for name in fields:
        setattr(listing, name, getattr(current, name))
    return current, event


def listing_review(*, listing: Listing, actor, action: str, reason: str | None = None,
                   expected_updated_at=None) -> ListingReviewEvent:
    """Staff decide a listing pending review: approve (published; reason optional) or reject (a
    reason required). The partner's endpoints get listing.approved / listing.rejected (the delivery
    rows commit with the decision and are sent after it). `expected_updated_at`: the listing's
    updated_at when staff looked at it; if the partner changed it since (endpoint, schema...), 409
    listing_transition_not_allowed with details.changed_since, and nothing is decided."""
    if actor is None or not (actor.is_active and actor.is_staff):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only Levqor staff review listings.")
    if not isinstance(action, str) or action not in REVIEW_ACTIONS:
        raise listing_invalid([{"field": "action", "message": f"One of {', '.join(REVIEW_ACTIONS)}."}])
    reason = _reason(reason, required=action == "reject", default="Approved")
    allowed_from, to_status = REVIEW_ACTIONS[action]
    with transaction.atomic():
        current, event = _transition(listing, actor=actor, allowed_from={allowed_from}, to_status=to_status,
                                     reason=reason, action=f"{action}d", expected_updated_at=expected_updated_at)
        event_type = events.LISTING_APPROVED if action == "approve" else events.LISTING_REJECTED
        webhook_event_emit(owner=current.partner.owner, audience="partner", event_type=event_type,
                           key=f"{event_type}:{current.pk}:{event.pk}", source=f"marketplace.listing:{current.pk}",
                           data=listing_event_data(current, event))
    return event


def listing_event_data(listing: Listing, event: ListingReviewEvent) -> dict:
    """The listing as a webhook event carries it (never the secret nor the endpoint)."""
    return {"listing_id": str(listing.pk), "partner_id": str(listing.partner_id), "slug": listing.slug,
            "workflow": listing.workflow_name, "name": listing.name, "status": event.to_status,
            "previous_status": event.from_status, "reason": event.reason, "at": event.at.isoformat()}


def listing_delist(*, listing: Listing, actor, reason: str | None = None,
                   expected_updated_at=None) -> ListingReviewEvent:
    """Take a listing off the marketplace (from published or pending review): by its partner's owner
    or by staff. Buyers' installs stop running it (modules.py). Staff must give a reason."""
    staff = actor is not None and actor.is_active and actor.is_staff
    if not staff:
        _owner_check(listing, actor)
    reason = _reason(reason, required=staff and listing.partner.owner_id != getattr(actor, "pk", None),
                     default="Delisted by the partner")
    with transaction.atomic():
        _, event = _transition(listing, actor=actor, allowed_from={S.PUBLISHED, S.PENDING_REVIEW},
                               to_status=S.DELISTED, reason=reason, action="delisted",
                               expected_updated_at=expected_updated_at)
    return event


def listing_relist(*, listing: Listing, actor, reason: str | None = None) -> ListingReviewEvent:
    """The partner offers a delisted or rejected listing again: back to pending review."""
    _owner_check(listing, actor)
    _partner_approved(listing.partner)
    reason = _reason(reason, required=False, default="Relisted by the partner")
    with transaction.atomic():
        _, event = _transition(listing, actor=actor, allowed_from={S.DELISTED, S.REJECTED},
                               to_status=S.PENDING_REVIEW, reason=reason, action="relisted")
    return event


SECRET_OVERLAP_DEFAULT = timedelta(hours=24)


def listing_secret_rotate(*, listing: Listing, actor, overlap_hours=None) -> str:
    """A new signing secret for the listing's calls to its endpoint, returned once; the previous one
    also signs (a second Standard Webhooks signature) until the overlap (24 hours unless given, 0
    to 168) ends, so the partner's endpoint switches over at its own pace. The partner's owner only."""
    _owner_check(listing, actor)
    overlap = SECRET_OVERLAP_DEFAULT
    if overlap_hours is not None:
        try:
            overlap = None if isinstance(overlap_hours, bool) else timedelta(hours=float(overlap_hours))
        except (TypeError, ValueError, OverflowError):
            overlap = None
        if overlap is None or not timedelta(0) <= overlap <= ROTATION_OVERLAP_MAX:
            raise listing_invalid([{"field": "overlap_hours", "message": "A number of hours from 0 to 168."}])
    with transaction.atomic():
        locked = Listing.objects.select_for_update().get(pk=listing.pk)
        secret = secret_rotate(locked, new_secret=webhook_secret_generate(), overlap=overlap)
        locked.save(update_fields=[*ROTATION_FIELDS, "updated_at"])
    return secret
