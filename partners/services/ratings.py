"""Users rate approved partners, 1 to 5 stars: one rating per user per partner, changeable. The
partner's rating_avg / rating_count are kept current in the same transaction, and the auto-suspend
rule is checked after the commit.

Ratings held by higher apps count too (rating_sources.py: the marketplace's listing reviews, whose
writes call partner_rating_recompute)."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.db.models import Count, Sum

from levqor.errors import AppError, ErrorCode
from partners.models import Partner, PartnerRating
from partners.services.governance import partner_auto_suspend_after_commit
from partners.services.rating_sources import (  # noqa: F401  (re-exported: the registry's public name)
    partner_rating_source_register,
    partner_rating_source_unregister,
    rating_sources_totals,
)


def _stars_valid(stars) -> int:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise AppError(ErrorCode.VALIDATION_FAILED, "stars must be a whole number from 1 to 5.",
                       details={"errors": [{"field": "stars", "message": "Must be an integer from 1 to 5."}]})
    return stars


def partner_ratable_check(*, partner: Partner, user) -> None:
    """Who may rate or report `partner`: anyone signed in but its owner, and only while it is approved."""
    if not partner.is_approved:
        raise AppError(ErrorCode.PARTNER_NOT_APPROVED, "Only an approved partner can be rated or reported.",
                       details={"partner_id": str(partner.pk), "status": partner.status})
    if partner.owner_id == user.pk:
        raise AppError(ErrorCode.PERMISSION_DENIED, "You cannot rate or report your own partner.",
                       details={"partner_id": str(partner.pk)})


def partner_locked(partner: Partner) -> Partner:
    """The partner's row, locked: ratings (and reports) of one partner are written one at a time,
    so an upsert never races its twin and the average is taken over what is committed."""
    current = Partner.objects.select_for_update().filter(pk=partner.pk).first()
    if current is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such partner.", details={"partner_id": str(partner.pk)})
    return current


def _rating_totals_update(partner: Partner) -> None:
    """rating_avg / rating_count from the ratings table and the registered sources (one aggregate query
    each), on the row and on `partner`."""
    own = PartnerRating.objects.filter(partner_id=partner.pk).aggregate(total=Sum("stars"), count=Count("id"))
    other = rating_sources_totals(partner.pk)
    count = own["count"] + other.count
    avg = None
    if count:
        avg = (Decimal((own["total"] or 0) + other.stars_sum) / count).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    Partner.objects.filter(pk=partner.pk).update(rating_avg=avg, rating_count=count)
    partner.rating_avg, partner.rating_count = avg, count


def partner_rating_recompute(*, partner_id) -> Partner:
    """Bring the partner's rating_avg / rating_count up to date after a registered source changed (a
    listing reviewed), under the partner's row lock, and check the auto-suspend rule after the commit
    (an average under the policy's threshold from enough ratings suspends it). Call it inside the
    transaction that wrote the source's row."""
    with transaction.atomic():
        partner = partner_locked(Partner(pk=partner_id))
        _rating_totals_update(partner)
        partner_auto_suspend_after_commit(partner=partner)
    return partner


def partner_rate(*, partner: Partner, user, stars: int) -> PartnerRating:
    """Rate `partner` 1..5 as `user`, or change their rating. Safe when the same user's two
    requests arrive at once: one row, the later value. Returns the rating; `partner` carries the
    new rating_avg / rating_count."""
    stars = _stars_valid(stars)
    with transaction.atomic():
        current = partner_locked(partner)
        partner_ratable_check(partner=current, user=user)
        rating = PartnerRating.objects.filter(partner_id=current.pk, user=user).first()
        if rating is None:
            rating = PartnerRating.objects.create(partner=current, user=user, stars=stars)
        elif rating.stars != stars:
            rating.stars = stars
            rating.save(update_fields=["stars", "updated_at"])
        _rating_totals_update(partner)
        rating.partner = partner
        partner_auto_suspend_after_commit(partner=partner)
    return rating


def partner_rating_delete(*, partner: Partner, user) -> None:
    """Withdraw `user`'s rating of `partner` (not_found when there is none); the average follows."""
    with transaction.atomic():
        partner_locked(partner)
        deleted, _ = PartnerRating.objects.filter(partner_id=partner.pk, user=user).delete()
        if not deleted:
            raise AppError(ErrorCode.NOT_FOUND, "You have not rated this partner.",
                           details={"partner_id": str(partner.pk)})
        _rating_totals_update(partner)
        partner_auto_suspend_after_commit(partner=partner)  # withdrawing a good rating lowers the average too


def partner_rating_of(*, partner: Partner, user) -> PartnerRating | None:
    """`user`'s rating of `partner`, if any."""
    if not getattr(user, "is_authenticated", False):
        return None
    return PartnerRating.objects.filter(partner_id=partner.pk, user=user).first()


def partner_ratings_erase(*, user) -> int:
    """Erasure of an account (personal data registry): its ratings go, and each partner's average
    follows. Returns how many were removed."""
    removed = 0
    with transaction.atomic():
        partner_ids = list(PartnerRating.objects.filter(user=user).values_list("partner_id", flat=True))
        for partner in Partner.objects.select_for_update().filter(pk__in=partner_ids).order_by("pk"):
            removed += PartnerRating.objects.filter(partner_id=partner.pk, user=user).delete()[0]
            _rating_totals_update(partner)
    return removed
