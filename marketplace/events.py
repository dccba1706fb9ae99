"""The webhook event types of the marketplace (registered with levqor.webhooks in ready()).

Listing events go to the partner; order and payout events to the partner, and order events also
to the buyer's own endpoints (audience account)."""

LISTING_APPROVED = "listing.approved"
LISTING_REJECTED = "listing.rejected"
ORDER_COMPLETED = "order.completed"
ORDER_REFUNDED = "order.refunded"
PAYOUT_PAID = "payout.paid"

MARKETPLACE_EVENT_TYPES = {
    LISTING_APPROVED: ("A listing passed review and is published; data is the listing.", ("partner",)),
    LISTING_REJECTED: ("A listing was rejected in review, with the reason; data is the listing.", ("partner",)),
    ORDER_COMPLETED: ("An order of a listing completed (paid, or a free install); data is the order.",
                      ("partner", "account")),
    ORDER_REFUNDED: ("An order was refunded; data is the order.", ("partner", "account")),
    PAYOUT_PAID: ("A partner's share of an order was transferred to its Stripe account; data is the payout.",
                  ("partner",)),
}
