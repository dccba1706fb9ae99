"""partners' sections of the personal data registry (accounts.personal_data): the partner an
account owns (or owned) with its review trail, the account's ratings and its reports.

Erasure: the account's partners are soft-deleted (credentials revoked through partner_deleted,
endpoints disabled) and their contact data anonymised; the review trail stays (it is the review
audit, and names the partner only by its id now). The account's ratings are removed and each
partner's rating average recomputed from the ratings left (partners.services.ratings). Reports stay, for the partner's review
history and the auto-suspend count, but no longer name their reporter."""

from django.db import transaction

from accounts.personal_data import personal_data_register
from partners.models import Partner, PartnerRating, PartnerReport
from partners.services.ratings import partner_ratings_erase
from partners.services.registry import partner_delete
from partners.services.reports import partner_reports_erase

ERASED_NAME = "Erased partner"
ERASED_URL = "https://erased.invalid/"


def _trail(partner: Partner, user) -> list[dict]:
    # Who reviewed stays with Levqor: the partner sees "you", "Levqor staff" or "Levqor" (automatic).
    return [{"at": e.at, "from": e.from_status, "to": e.to_status, "reason": e.reason,
             "by": "you" if e.actor_id == user.pk else ("Levqor" if e.actor_id is None else "Levqor staff")}
            for e in partner.review_events.order_by("at", "id")]


def partners_export(*, user) -> list[dict]:
    return [{"id": p.pk, "name": p.name, "email": p.email, "webhook_url": p.webhook_url,
             "revenue_share": p.revenue_share, "metadata": p.metadata, "status": p.status,
             "status_reason": p.status_reason, "verified_at": p.verified_at, "next_review_at": p.next_review_at,
             "created_at": p.created_at, "deleted_at": p.deleted_at, "review_trail": _trail(p, user)}
            for p in Partner.objects.filter(owner=user).order_by("created_at")]


def partners_erase(*, user, erasure) -> None:
    with transaction.atomic():
        for partner in Partner.objects.filter(owner=user, deleted_at__isnull=True):
            partner_delete(partner=partner, actor=erasure.actor, reason="The owner's account was erased.")
        for partner in Partner.objects.filter(owner=user):
            Partner.objects.filter(pk=partner.pk).update(name=ERASED_NAME, email=f"erased-{partner.pk.hex}@erased.invalid",
                                                         webhook_url=ERASED_URL, metadata={})


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


def partners_personal_data_register() -> None:
    personal_data_register(name="partners", export=partners_export, erase=partners_erase)
    personal_data_register(name="partner_ratings", export=partner_ratings_export,
                           erase=partner_ratings_personal_data_erase)
    personal_data_register(name="partner_reports", export=partner_reports_export,
                           erase=partner_reports_personal_data_erase)
