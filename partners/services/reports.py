"""Users report approved partners with a reason; staff review each report in admin (upheld or
dismissed, with a note). Open and upheld reports count toward the auto-suspend rule."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from partners.models import Partner, PartnerReport
from partners.services.governance import partner_auto_suspend_after_commit
from partners.services.ratings import partner_locked, partner_ratable_check

REASON_MIN, REASON_MAX = 10, 2000
NOTE_MAX = 500
DECISIONS = (PartnerReport.Status.UPHELD, PartnerReport.Status.DISMISSED)


def _reason_valid(reason) -> str:
    reason = (reason or "").strip() if isinstance(reason, str) or reason is None else None
    if reason is None or not REASON_MIN <= len(reason) <= REASON_MAX:
        raise AppError(ErrorCode.VALIDATION_FAILED,
                       f"A report needs a reason of {REASON_MIN} to {REASON_MAX} characters: what happened.",
                       details={"errors": [{"field": "reason",
                                            "message": f"Must be {REASON_MIN} to {REASON_MAX} characters."}]})
    return reason


def partner_report(*, partner: Partner, reporter, reason: str) -> PartnerReport:
    """Report `partner` as `reporter`. One open report per reporter per partner (report_exists,
    409, while it waits for review); not on your own partner; only approved partners."""
    reason = _reason_valid(reason)
    with transaction.atomic():
        current = partner_locked(partner)
        partner_ratable_check(partner=current, user=reporter)
        if PartnerReport.objects.filter(partner_id=current.pk, reporter=reporter,
                                        status=PartnerReport.Status.OPEN).exists():
            raise _exists(partner)
        try:
            with transaction.atomic():  # the constraint backs the check where rows are not locked (SQLite reads)
                report = PartnerReport.objects.create(partner=current, reporter=reporter, reason=reason)
        except IntegrityError as exc:
            raise _exists(partner) from exc
        partner_auto_suspend_after_commit(partner=current)
    return report


def _exists(partner: Partner) -> AppError:
    return AppError(ErrorCode.REPORT_EXISTS, "You already have an open report on this partner; staff will review it.",
                    details={"partner_id": str(partner.pk)})


def partner_report_review(*, report: PartnerReport, actor, decision: str, note: str) -> PartnerReport:
    """Staff decide an open report: "upheld" or "dismissed", with a required note. Compare-and-set:
    a report reviewed already is report_not_open (409), whoever was first."""
    if decision not in DECISIONS:
        raise AppError(ErrorCode.VALIDATION_FAILED, "decision must be upheld or dismissed.",
                       details={"errors": [{"field": "decision", "message": "Must be upheld or dismissed."}]})
    note = (note or "").strip()
    if not note or len(note) > NOTE_MAX:
        raise AppError(ErrorCode.VALIDATION_FAILED, f"A review needs a note (up to {NOTE_MAX} characters).",
                       details={"errors": [{"field": "note", "message": f"Required, up to {NOTE_MAX} characters."}]})
    now = timezone.now()
    with transaction.atomic():
        changed = PartnerReport.objects.filter(pk=report.pk, status=PartnerReport.Status.OPEN).update(
            status=decision, reviewed_at=now, reviewed_by=actor, review_note=note)
        if not changed:
            current = PartnerReport.objects.filter(pk=report.pk).values_list("status", flat=True).first()
            raise AppError(ErrorCode.REPORT_NOT_OPEN, "This report was reviewed already.",
                           details={"report_id": report.pk, "status": current})
        report.status, report.reviewed_at, report.reviewed_by, report.review_note = decision, now, actor, note
    return report


def partner_reports_erase(*, user) -> int:
    """Erasure of an account (personal data registry): its reports stay as the record of what a
    partner was reported for and how staff decided, naming nobody. Returns how many were unlinked."""
    return PartnerReport.objects.filter(reporter=user).update(reporter=None)
