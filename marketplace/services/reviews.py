"""Buyers review a listing once: 1 to 5 stars and an optional text. The listing's rating_avg /
rating_count are kept current in the review's transaction (an aggregate in SQL under the listing's
row lock), and the stars feed the partner's rating in governance: the partners app counts them
through its rating-source registry (listing_reviews_partner_totals, registered in ready()), and
partner_rating_recompute brings the partner's average up to date and checks the auto-suspend rule."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Sum

from levqor.errors import AppError, ErrorCode
from marketplace.models import Installation, Listing, ListingReview
from partners.services.rating_sources import RatingTotals
from partners.services.ratings import partner_rating_recompute

BODY_MAX_CHARS = 2000


def _field_error(field: str, message: str) -> AppError:
    return AppError(ErrorCode.VALIDATION_FAILED, message, details={"errors": [{"field": field, "message": message}]})


def _review_valid(stars, body) -> tuple[int, str]:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise _field_error("stars", "stars must be a whole number from 1 to 5.")
    if not isinstance(body, str):
        raise _field_error("body", "body must be text.")
    body = body.strip()
    if len(body) > BODY_MAX_CHARS:
        raise _field_error("body", f"body is at most {BODY_MAX_CHARS} characters.")
    return stars, body


def _listing_rating_update(listing: Listing) -> None:
    totals = ListingReview.objects.filter(listing_id=listing.pk).aggregate(total=Sum("stars"), count=Count("id"))
    avg = None
    if totals["count"]:
        avg = (Decimal(totals["total"]) / totals["count"]).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    Listing.objects.filter(pk=listing.pk).update(rating_avg=avg, rating_count=totals["count"])
    listing.rating_avg, listing.rating_count = avg, totals["count"]


def listing_review_create(*, user, listing: Listing, stars: int, body: str = "") -> ListingReview:
    """Review `listing` as `user`: only an account that installed it in live mode (uninstalled since
    or not; a test-mode install must not move live ratings) and does not own its partner; once (409
    already_reviewed, also when two requests race: the unique constraint decides). The listing's and
    the partner's ratings follow at once."""
    stars, body = _review_valid(stars, body)
    with transaction.atomic():
        current = Listing.objects.select_for_update().select_related("partner").filter(pk=listing.pk).first()
        if current is None:
            raise AppError(ErrorCode.NOT_FOUND, "No such listing.", details={"listing_id": str(listing.pk)})
        if current.partner.owner_id == user.pk:
            raise AppError(ErrorCode.PERMISSION_DENIED, "You cannot review your own listing.",
                           details={"listing_id": str(current.pk)})
        if not Installation.objects.filter(user=user, listing=current, livemode=True).exists():
            raise AppError(ErrorCode.NOT_A_BUYER, "Only an account that installed this listing may review it.",
                           details={"listing_id": str(current.pk)})
        try:
            with transaction.atomic():
                review = ListingReview.objects.create(listing=current, user=user, stars=stars, body=body)
        except IntegrityError as exc:  # listing_review_once
            raise AppError(ErrorCode.ALREADY_REVIEWED, "You have reviewed this listing already.",
                           details={"listing_id": str(current.pk)}) from exc
        _listing_rating_update(current)
        partner_rating_recompute(partner_id=current.partner_id)
    listing.rating_avg, listing.rating_count = current.rating_avg, current.rating_count
    review.listing = listing
    return review


def listing_reviews_partner_totals(partner_id) -> RatingTotals:
    """The partners app's rating source: the stars of every review of the partner's listings, and who
    gave them (the auto-suspend minimum counts each user once)."""
    reviews = ListingReview.objects.filter(listing__partner_id=partner_id)
    totals = reviews.aggregate(total=Sum("stars"), count=Count("id"), latest=Max("created_at"))
    user_ids = frozenset(reviews.values_list("user_id", flat=True).distinct())
    return RatingTotals(stars_sum=totals["total"] or 0, count=totals["count"], latest_at=totals["latest"],
                        user_ids=user_ids)
