"""Signals of the partners app, for the parts of it that act on a partner's life."""

from django.dispatch import Signal

# Sent (sender=Partner, partner=<Partner>, actor=<User or None>) when a partner is deleted (soft):
# its credentials are revoked (partners.services.credentials).
partner_deleted = Signal()
