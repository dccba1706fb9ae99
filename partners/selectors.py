"""Reads of partners that more than one caller needs."""

from partners.models import Partner, PartnerReport


def partner_live_for(owner) -> Partner | None:
    """The owner's partner that is not deleted (one at most), or None; None for nobody signed in."""
    if owner is None or not getattr(owner, "is_authenticated", False):
        return None
    return Partner.objects.filter(owner=owner, deleted_at__isnull=True).first()


def partner_live_get(partner_id) -> Partner | None:
    """The partner with this id unless deleted, with its owner; None otherwise."""
    return Partner.objects.select_related("owner").filter(pk=partner_id, deleted_at__isnull=True).first()


def partner_reports_counted(*, partner: Partner) -> int:
    """The reports the policy's suspend_user_reports counts: open or upheld, one per reporter, made
    since the partner was last approved (reinstating it starts the count again). Auto-suspend and
    the audit's finding read the same number."""
    reports = PartnerReport.objects.filter(partner_id=partner.pk, reporter__isnull=False,
                                           status__in=[PartnerReport.Status.OPEN, PartnerReport.Status.UPHELD])
    if partner.verified_at is not None:
        reports = reports.filter(created_at__gte=partner.verified_at)
    return reports.values("reporter").distinct().count()
