"""partners' sections of the personal data registry (accounts.personal_data): the partner an
account owns (or owned) with its review trail, the account's ratings and its reports.

Erasure: the account's partners are soft-deleted (credentials revoked through partner_deleted,
endpoints disabled) and their contact data anonymised; the review trail stays (it is the review
audit, and names the partner only by its id now). The account's ratings are removed and each
partner's rating average recomputed from the ratings left. Reports stay, for the partner's review
history and the auto-suspend count, but no longer name their reporter."""

from django.db import transaction
from django.db.models import Avg, Count

from accounts.personal_data import personal_data_register
from partners.models import Partner, PartnerRating, PartnerReport
from partners.services.registry import partner_delete

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


def ratings_export(*, user) -> list[dict]:
    return list(PartnerRating.objects.filter(user=user).order_by("created_at")
                .values("partner_id", "partner__name", "stars", "created_at", "updated_at"))


def ratings_erase(*, user, erasure) -> None:
    """The ratings go; each partner's average is recomputed from the others (the governance part's
    rating service keeps it current on every other change)."""
    with transaction.atomic():
        partner_ids = list(PartnerRating.objects.filter(user=user).values_list("partner_id", flat=True))
        PartnerRating.objects.filter(user=user).delete()
        for partner_id in partner_ids:
            left = PartnerRating.objects.filter(partner_id=partner_id).aggregate(avg=Avg("stars"), n=Count("id"))
            avg = round(left["avg"], 2) if left["avg"] is not None else None
            Partner.objects.filter(pk=partner_id).update(rating_avg=avg, rating_count=left["n"])


def reports_export(*, user) -> list[dict]:
    return list(PartnerReport.objects.filter(reporter=user).order_by("created_at")
                .values("partner_id", "partner__name", "reason", "status", "created_at", "reviewed_at"))


def reports_erase(*, user, erasure) -> None:
    PartnerReport.objects.filter(reporter=user).update(reporter=None)


def partners_personal_data_register() -> None:
    personal_data_register(name="partners", export=partners_export, erase=partners_erase)
    personal_data_register(name="partner_ratings", export=ratings_export, erase=ratings_erase)
    personal_data_register(name="partner_reports", export=reports_export, erase=reports_erase)
