"""Partner credentials for the signed partner API: made for approved partners only, a bounded
number of live ones each, rotated with an overlap during which the old secret still verifies,
revoked at once (also all of them when the partner is deleted)."""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.rotating_secret import ROTATION_FIELDS, ROTATION_OVERLAP_MAX, secret_rotate
from partners.models import Partner, PartnerCredential

logger = logging.getLogger("levqor.partners")

KEY_ID_PREFIX = "lpk_"
SECRET_PREFIX = "lps_"  # noqa: S105  (the prefix, not a secret)
MAX_LIVE_CREDENTIALS = 5
ROTATION_OVERLAP_SECONDS = 24 * 3600
ROTATION_OVERLAP_MAX_SECONDS = int(ROTATION_OVERLAP_MAX.total_seconds())
LAST_USED_WRITE_INTERVAL_SECONDS = 60


@dataclass(frozen=True)
class CreatedCredential:
    """A credential just made or rotated, with its secret: the only time the secret is handed out."""

    credential: PartnerCredential
    secret: str


def credential_key_id_new() -> str:
    return KEY_ID_PREFIX + secrets.token_hex(12)  # 24 hex


def credential_secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)  # 32 random bytes: 43 urlsafe characters


def credential_list_for(partner: Partner):
    """A partner's credentials, live ones first, newest first."""
    return PartnerCredential.objects.filter(partner=partner).order_by(
        F("revoked_at").desc(nulls_first=True), "-created_at", "-id")


def credential_get_for(partner: Partner, *, key_id: str) -> PartnerCredential | None:
    return PartnerCredential.objects.filter(partner=partner, key_id=key_id).first()


def credential_create(*, partner: Partner, name: str = "", actor=None) -> CreatedCredential:
    """A new credential for an approved partner (403 partner_not_approved otherwise), at most
    MAX_LIVE_CREDENTIALS live at once (409 credential_limit_reached). The secret is returned once."""
    name = (name or "").strip()
    if len(name) > 100:
        raise AppError(ErrorCode.VALIDATION_FAILED, "The name is at most 100 characters.",
                       details={"errors": [{"field": "name", "message": "At most 100 characters."}]})
    with transaction.atomic():
        # The partner row locked: two creations at once cannot both pass the limit, nor one race a suspension.
        current = Partner.objects.select_for_update().get(pk=partner.pk)
        if not current.is_approved:
            raise AppError(ErrorCode.PARTNER_NOT_APPROVED,
                           "Only an approved partner can have credentials for the partner API.",
                           details={"status": current.status})
        live = PartnerCredential.objects.filter(partner=current, revoked_at__isnull=True).count()
        if live >= MAX_LIVE_CREDENTIALS:
            raise AppError(ErrorCode.CREDENTIAL_LIMIT_REACHED,
                           f"A partner may have at most {MAX_LIVE_CREDENTIALS} live credentials; revoke one first.",
                           details={"limit": MAX_LIVE_CREDENTIALS, "live": live})
        secret = credential_secret_new()
        credential = PartnerCredential.objects.create(partner=current, key_id=credential_key_id_new(), secret=secret,
                                                      name=name, created_by=actor)
    logger.info("partner credential created", extra={"partner_id": str(partner.pk), "key_id": credential.key_id})
    return CreatedCredential(credential=credential, secret=secret)


def credential_rotate(*, credential: PartnerCredential, overlap_seconds: int = ROTATION_OVERLAP_SECONDS,
                      actor=None) -> CreatedCredential:
    """A new secret for a live credential (same key id). The old secret keeps verifying for
    overlap_seconds (0 .. ROTATION_OVERLAP_MAX_SECONDS; 0: it stops now); a secret still in an
    earlier overlap stops now (one previous secret at a time). 409 credential_revoked when revoked."""
    if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, int) or not (
            0 <= overlap_seconds <= ROTATION_OVERLAP_MAX_SECONDS):
        raise AppError(ErrorCode.VALIDATION_FAILED,
                       f"The overlap is a whole number of seconds from 0 to {ROTATION_OVERLAP_MAX_SECONDS}.",
                       details={"errors": [{"field": "overlap_seconds",
                                            "message": f"From 0 to {ROTATION_OVERLAP_MAX_SECONDS}."}]})
    now = timezone.now()
    with transaction.atomic():
        # Locked: two rotations at once give one previous secret and one current, not a lost one.
        current = PartnerCredential.objects.select_for_update().get(pk=credential.pk)
        if current.revoked_at is not None:
            raise AppError(ErrorCode.CREDENTIAL_REVOKED, "This credential is revoked: create a new one instead.",
                           details={"key_id": current.key_id})
        secret = secret_rotate(current, new_secret=credential_secret_new(), overlap=timedelta(seconds=overlap_seconds),
                               now=now)
        current.save(update_fields=list(ROTATION_FIELDS))
    logger.info("partner credential rotated", extra={"key_id": current.key_id, "overlap_seconds": overlap_seconds})
    _copy(current, credential)
    return CreatedCredential(credential=credential, secret=secret)


def credential_revoke(*, credential: PartnerCredential, actor=None) -> PartnerCredential:
    """Stop a credential now, everywhere; its secrets are forgotten (nothing needs them any more).
    Revoking a revoked credential changes nothing."""
    now = timezone.now()
    with transaction.atomic():
        PartnerCredential.objects.filter(pk=credential.pk, revoked_at__isnull=True).update(
            revoked_at=now, secret="", previous_secret="", previous_secret_expires_at=None)
        current = PartnerCredential.objects.get(pk=credential.pk)
    logger.info("partner credential revoked", extra={"key_id": current.key_id,
                                                     "actor": getattr(actor, "pk", None) and str(actor.pk)})
    _copy(current, credential)
    return credential


def credential_revoke_all(*, partner: Partner, actor=None) -> int:
    """Revoke every live credential of a partner (it was deleted); the number revoked."""
    count = PartnerCredential.objects.filter(partner=partner, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), secret="", previous_secret="", previous_secret_expires_at=None)
    if count:
        logger.info("partner credentials revoked with the partner", extra={"partner_id": str(partner.pk),
                                                                            "count": count})
    return count


def credential_used(*, credential: PartnerCredential, now=None) -> None:
    """Record that a credential signed a request: at most one write a minute per credential (the
    row read for the request says when it was last written, the conditional update settles races)."""
    now = now or timezone.now()
    threshold = now - timedelta(seconds=LAST_USED_WRITE_INTERVAL_SECONDS)
    if credential.last_used_at is not None and credential.last_used_at > threshold:
        return
    PartnerCredential.objects.filter(pk=credential.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=threshold)).update(last_used_at=now)
    credential.last_used_at = now


def partner_deleted_revoke_credentials(sender, partner, actor=None, **kwargs) -> None:
    """partners.signals.partner_deleted receiver (connected in PartnersConfig.ready())."""
    credential_revoke_all(partner=partner, actor=actor)


def _copy(source: PartnerCredential, target: PartnerCredential) -> None:
    if source is target:
        return
    for field in ("secret", "previous_secret", "previous_secret_expires_at", "rotated_at", "revoked_at"):
        setattr(target, field, getattr(source, field))
