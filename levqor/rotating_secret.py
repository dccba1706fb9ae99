"""A secret that rotates with an overlap, in one place for every holder: webhook endpoints and
account signing secrets (levqor.webhooks: the previous secret also signs until the overlap ends)
and partner credentials (partners: the previous secret also verifies until then).

A rotation makes the new secret current at once and keeps the previous one valid for the overlap
(none: it stops now). One previous secret at a time: rotating during an overlap ends the earlier
one at once. Secrets are encrypted at rest (levqor.crypto)."""

from datetime import timedelta

from django.db import models
from django.utils import timezone

from levqor.crypto import EncryptedSecretField

# The longest overlap any holder offers (webhooks: 168 hours; partner credentials: 604,800 s).
ROTATION_OVERLAP_MAX = timedelta(days=7)
# What secret_rotate() changes: save(update_fields=[*ROTATION_FIELDS, ...]) after it.
ROTATION_FIELDS = ("secret", "previous_secret", "previous_secret_expires_at", "rotated_at")


class RotatingSecret(models.Model):
    """A current secret, and the previous one while an overlap lasts. A holder may give `secret`
    its own default (e.g. a freshly generated one) by declaring the field again."""

    secret = EncryptedSecretField(blank=True, default="", editable=False)
    previous_secret = EncryptedSecretField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def overlap_ends_at(self, now=None):
        """When the previous secret stops being valid, or None when none is valid any more."""
        now = now or timezone.now()
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return self.previous_secret_expires_at
        return None

    def valid_secrets(self, now=None) -> list[str]:
        """The secrets valid now: the current one, and the previous one during the overlap (none
        without a current secret, e.g. a partner credential revoked)."""
        if not self.secret:
            return []
        return [self.secret] + ([self.previous_secret] if self.overlap_ends_at(now) else [])

    def signing_secrets(self, *, now=None) -> list[str]:
        """The secrets a message is signed with now (valid_secrets; webhooks' name for them)."""
        return self.valid_secrets(now)


def secret_rotate(holder: RotatingSecret, *, new_secret: str, overlap: timedelta, now=None) -> str:
    """Make `new_secret` the holder's current secret; the current one stays valid for `overlap`
    (0: it stops now; an earlier previous secret stops now either way). Changes the holder in
    memory only: the caller has the row locked and saves ROTATION_FIELDS. Returns the new secret."""
    if overlap < timedelta(0) or overlap > ROTATION_OVERLAP_MAX:
        raise ValueError(f"A rotation's overlap is from 0 to {ROTATION_OVERLAP_MAX}, not {overlap}.")
    now = now or timezone.now()
    holder.previous_secret = holder.secret if overlap else ""
    holder.previous_secret_expires_at = now + overlap if overlap else None
    holder.secret = new_secret
    holder.rotated_at = now
    return new_secret
