"""Reads of partners that more than one caller needs."""

from partners.models import Partner


def partner_live_for(owner) -> Partner | None:
    """The owner's partner that is not deleted (one at most), or None; None for nobody signed in."""
    if owner is None or not getattr(owner, "is_authenticated", False):
        return None
    return Partner.objects.filter(owner=owner, deleted_at__isnull=True).first()


def partner_live_get(partner_id) -> Partner | None:
    """The partner with this id unless deleted, with its owner; None otherwise."""
    return Partner.objects.select_related("owner").filter(pk=partner_id, deleted_at__isnull=True).first()
