"""The marketplace app's tables: billing (marketplace.models.billing) and the marketplace itself
(marketplace.models.catalog)."""

from marketplace.models.billing import CheckoutSession, PromotionCode, StripeCustomer, StripeEvent, Subscription, TierPrice
from marketplace.models.catalog import (
    ConnectAccount,
    Installation,
    Listing,
    ListingReview,
    ListingReviewEvent,
    Order,
    Payout,
)

__all__ = ["CheckoutSession", "ConnectAccount", "Installation", "Listing", "ListingReview", "ListingReviewEvent",
           "Order", "Payout", "PromotionCode", "StripeCustomer", "StripeEvent", "Subscription", "TierPrice"]
