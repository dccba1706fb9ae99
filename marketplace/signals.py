"""Signals of billing, for the apps that act on money moving (intelligence: ledger, growth).

Each is sent after the Stripe event that caused it was stored and inside the transaction that
processes it, so a receiver's writes commit with it (and a re-processed event sends it again:
receivers are idempotent on the Stripe ids they are given)."""

from django.dispatch import Signal

# A subscription's state changed (created, upgraded, downgraded, cancelled, lapsed). kwargs:
# subscription (marketplace.models.Subscription), old_tier, new_tier (the user's tier before and
# after: equal when only the status moved), event (marketplace.models.StripeEvent or None).
subscription_changed = Signal()

# An invoice was paid (money in). kwargs: user, livemode, invoice_id, charge_id (may be ""),
# amount_minor (int), currency (lower-case ISO code), paid_at (datetime), event.
invoice_paid = Signal()

# A charge was refunded, in whole or in part. kwargs: user (or None when the customer is not
# ours), livemode, charge_id, amount_refunded_minor (the charge's total refunded so far),
# currency, refunded_at, event.
charge_refunded = Signal()

# A Stripe event was processed (any type, handled or ignored). kwargs: event.
stripe_event_processed = Signal()

# A customer disputed a charge (charge.dispute.created): money may be taken back. kwargs:
# dispute_id, charge_id, amount_minor (int), currency (lower-case), reason (Stripe's), livemode,
# event. intelligence raises an alert (intelligence/services/billing_alerts.py).
charge_disputed = Signal()

# --- the marketplace ---------------------------------------------------------------------------
# Sent inside the transaction that changed the order (receivers' writes commit with it; an event
# processed again does not send it again: the order's status moved only once).

# An order completed (a free install, or checkout.session.completed of a paid one). kwargs: order
# (marketplace.models.Order: amount_minor, currency, partner_share_minor, platform_fee_minor,
# charge_id, livemode, buyer, completed_at).
order_completed = Signal()

# An order was refunded in full (charge.refunded). kwargs: order, reversed_minor (the partner's
# share taken back in all from a transfer already made, 0 when it was not paid out yet),
# refunded_at. The reversals themselves are payout_reversed.
order_refunded = Signal()

# More of a completed order was refunded (each increase of amount_refunded_minor, partial or full,
# also one found when a refunded charge's order completes). kwargs: order, amount_refunded_minor
# (the total so far), refunded_at.
order_refund_recorded = Signal()

# Part of a partner's transfer was taken back at Stripe (one transfer reversal). kwargs: payout,
# order, reversal_id (Stripe's trr_ id), amount_minor (this reversal), reversed_at. Sent once per
# reversal, in the transaction that records it on the payout.
payout_reversed = Signal()

# A partner's share of an order was transferred. kwargs: payout (marketplace.models.Payout), order.
payout_paid = Signal()
