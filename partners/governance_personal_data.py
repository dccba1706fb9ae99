"""Governance's sections of the personal data registry (accounts.personal_data): the partners a
user rated and reported. Erasure removes the ratings (averages follow) and unlinks the reports."""

from accounts.personal_data import personal_data_register
from partners.models import PartnerRating, PartnerReport
from partners.services.ratings import partner_ratings_erase
from partners.services.reports import partner_reports_erase


def partner_ratings_export(*, user) -> list[dict]:
    return [{"partner_id": r.partner_id, "partner_name": r.partner.name, "stars": r.stars,
             "created_at": r.created_at, "updated_at": r.updated_at}
            for r in PartnerRating.objects.filter(user=user).select_related("partner").order_by("created_at")]


def partner_reports_export(*, user) -> list[dict]:
    return [{"partner_id": r.partner_id, "partner_name": r.partner.name, "reason": r.reason, "status": r.status,
             "created_at": r.created_at, "reviewed_at": r.reviewed_at}
            for r in PartnerReport.objects.filter(reporter=user).select_related("partner").order_by("created_at")]


def partner_ratings_personal_data_erase(*, user, erasure) -> None:
    partner_ratings_erase(user=user)


def partner_reports_personal_data_erase(*, user, erasure) -> None:
    partner_reports_erase(user=user)


def governance_personal_data_register() -> None:
    personal_data_register(name="partner_ratings", export=partner_ratings_export,
                           erase=partner_ratings_personal_data_erase)
    personal_data_register(name="partner_reports", export=partner_reports_export,
                           erase=partner_reports_personal_data_erase)
