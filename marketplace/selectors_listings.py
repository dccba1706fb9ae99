"""Reads of listings that the API, the pages and the admin share. Public means: published, by an
approved partner that is not deleted; sorted by downloads (most first), then newest."""

from django.db.models import Q, QuerySet

from marketplace.models import Installation, Listing, ListingReview, Order
from partners.models import Partner

PUBLIC_ORDER = ("-downloads", "-published_at", "-id")


def listings_public(*, category: str | None = None, partner_id=None, verified_only: bool = False,
                    q: str | None = None) -> QuerySet[Listing]:
    """The marketplace's listings, their partner joined (one query per page, however long)."""
    listings = (Listing.objects.filter(status=Listing.Status.PUBLISHED, partner__status=Partner.Status.APPROVED,
                                       partner__deleted_at__isnull=True)
                .select_related("partner").defer("secret", "previous_secret"))
    if category:
        listings = listings.filter(category=category)
    if partner_id:
        listings = listings.filter(partner_id=partner_id)
    if verified_only:
        listings = listings.filter(partner__verified_at__isnull=False)
    if q:
        listings = listings.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return listings.order_by(*PUBLIC_ORDER)


def listing_public_get(*, listing_id=None, slug: str | None = None) -> Listing | None:
    """One public listing by id or slug, or None."""
    lookup = {"pk": listing_id} if listing_id is not None else {"slug": slug}
    return listings_public().filter(**lookup).first()


def listing_of_partner(*, listing_id, partner: Partner | None) -> Listing | None:
    """The partner's own listing (any status), or None."""
    if partner is None:
        return None
    return Listing.objects.select_related("partner").filter(pk=listing_id, partner=partner).first()


def listings_of_partner(partner: Partner, *, status: str | None = None) -> QuerySet[Listing]:
    listings = Listing.objects.filter(partner=partner).select_related("partner").defer("secret", "previous_secret")
    if status:
        listings = listings.filter(status=status)
    return listings.order_by("-created_at", "-id")


def listing_viewer_state(*, listing: Listing, user) -> dict:
    """What a signed-in viewer has of a listing: the live install (livemode), whether they reviewed
    it, whether an order of theirs waits for payment."""
    if user is None or not user.is_authenticated:
        return {"installation": None, "reviewed": False, "order_pending": False}
    return {
        "installation": Installation.objects.filter(user=user, listing=listing, livemode=True,
                                                    uninstalled_at__isnull=True).first(),
        "reviewed": ListingReview.objects.filter(user=user, listing=listing).exists(),
        "order_pending": Order.objects.filter(buyer=user, listing=listing, livemode=True,
                                              status=Order.Status.PENDING).exists(),
    }


def listing_reviews(listing: Listing) -> QuerySet[ListingReview]:
    return ListingReview.objects.filter(listing=listing).select_related("user").order_by("-created_at", "-id")
