"""Buying a listing: a free one completes and installs at once; a paid one gets a Stripe Checkout
Session (payment mode) and stays `pending` until Stripe's checkout.session.completed arrives
(order_events.py completes it, exactly once).

The split is decided when the order completes, from the partner's revenue_share snapshotted on the
order: partner_share = int(amount * revenue_share) in minor units (truncated, as int() does), the
rest is the platform fee (order_split).

Starting a paid order: the row is written (pending, no session yet) and committed before Stripe is
asked, so the Stripe idempotency key can be the order's own id and the session's metadata can name
it; a Stripe failure deletes that row again (nothing referenced it), so a failed try leaves nothing
that blocks the next. While a pending order's session is still open, starting again answers that
order (no second session, no second payment); an older one too close to its end to be offered is
expired at Stripe before a new session is made, so it cannot be paid as well. The listing row is
locked while this is decided, so two starts at once cannot both make a session."""

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from levqor.errors import AppError, ErrorCode
from levqor.site import site_url
from levqor.webhooks.services import webhook_event_emit
from marketplace import events, signals
from marketplace.models import Installation, Listing, Order
from marketplace.services.checkout import stripe_customer_for
from marketplace.services.installs import listing_install
from marketplace.stripe_api import stripe_client, stripe_errors
from partners.models import Partner

# A start whose Stripe call is still on its way (its row has no session yet) holds the next start
# off this long; a row older than that without a session was left by a crash and is expired.
START_IN_FLIGHT = timedelta(minutes=2)
# A pending order is offered again only while its session has this much time left.
REUSE_MARGIN = timedelta(minutes=5)


def order_split(*, amount_minor: int, revenue_share: Decimal) -> tuple[int, int]:
    """(partner_share_minor, platform_fee_minor): the partner's share truncated to a whole minor
    unit (999 * 0.7 -> 699, 1 * 0.7 -> 0), the platform keeps the rest."""
    partner = int((Decimal(amount_minor) * Decimal(revenue_share)).to_integral_value(rounding=ROUND_DOWN))
    partner = max(0, min(partner, amount_minor))
    return partner, amount_minor - partner


def order_event_data(order: Order) -> dict:
    """An order as webhook events and the API show it: no data of the buyer (the partner's event
    says what was sold, not to whom)."""
    return {
        "id": str(order.pk), "listing_id": str(order.listing_id), "partner_id": str(order.partner_id),
        "livemode": order.livemode,
        "status": order.status, "amount_minor": order.amount_minor, "currency": order.currency,
        "revenue_share": str(order.revenue_share), "partner_share_minor": order.partner_share_minor,
        "platform_fee_minor": order.platform_fee_minor,
        "created_at": _iso(order.created_at), "completed_at": _iso(order.completed_at),
        "payout_due_at": _iso(order.payout_due_at), "paid_out_at": _iso(order.paid_out_at),
        "refunded_at": _iso(order.refunded_at), "amount_refunded_minor": order.amount_refunded_minor,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def order_events_emit(order: Order, event_type: str) -> None:
    """The order's event to the partner's endpoints (audience partner) and the buyer's own
    (audience account), in the caller's transaction: the deliveries commit with the change and
    are handed to the workers after it. The key makes each (event, order) one message."""
    data = order_event_data(order)
    key = f"{event_type}:{order.pk}"
    source = f"marketplace.order:{order.pk}"
    partner = Partner.objects.select_related("owner").get(pk=order.partner_id)
    webhook_event_emit(owner=partner.owner, audience="partner", event_type=event_type, data=data, key=key,
                       source=source)
    if order.buyer_id:
        webhook_event_emit(owner=order.buyer, audience="account", event_type=event_type, data=data, key=key,
                           source=source)


def _available(listing: Listing) -> Listing:
    current = Listing.objects.select_related("partner").filter(pk=listing.pk).first()
    if current is None:
        raise AppError(ErrorCode.NOT_FOUND, "No such listing.", details={"listing_id": str(listing.pk)})
    if current.status != Listing.Status.PUBLISHED or current.partner.status != Partner.Status.APPROVED:
        raise AppError(ErrorCode.LISTING_NOT_AVAILABLE, "This listing is not available for sale.",
                       details={"listing_id": str(current.pk), "status": current.status})
    return current


def _already_installed(*, buyer, listing: Listing, livemode: bool) -> None:
    if Installation.objects.filter(user=buyer, listing=listing, livemode=livemode, uninstalled_at__isnull=True).exists():
        raise AppError(ErrorCode.ALREADY_INSTALLED, "The listing is installed on this account already.",
                       details={"listing_id": str(listing.pk), "livemode": livemode})


def order_start(*, buyer, listing: Listing, livemode: bool) -> Order:
    """Buy `listing` for `buyer` in this mode. Free: the order completed and the listing installed
    at once (order_completed, order.completed). Paid: a pending order with checkout_url (Stripe
    Checkout, payment mode), or the pending order whose session is still open. 404 not_found /
    409 listing_not_available / 409 already_installed; 503 billing_not_configured when a paid
    listing cannot be sold in this mode; 503 service_unavailable / 502 billing_provider_error
    when Stripe cannot be asked (nothing stays behind)."""
    listing = _available(listing)
    _already_installed(buyer=buyer, listing=listing, livemode=livemode)
    if listing.is_free:
        return _order_free(buyer=buyer, listing=listing, livemode=livemode)
    return _order_paid(buyer=buyer, listing=listing, livemode=livemode)


def _order_free(*, buyer, listing: Listing, livemode: bool) -> Order:
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.create(listing=listing, partner=listing.partner, buyer=buyer, livemode=livemode,
                                     status=Order.Status.COMPLETED, amount_minor=0, currency=listing.currency,
                                     revenue_share=listing.partner.revenue_share, partner_share_minor=0,
                                     platform_fee_minor=0, completed_at=now)
        _, created = listing_install(user=buyer, listing=listing, livemode=livemode, order=order)
        if not created:  # installed by a concurrent request: this order is not needed (rolled back)
            raise AppError(ErrorCode.ALREADY_INSTALLED, "The listing is installed on this account already.",
                           details={"listing_id": str(listing.pk), "livemode": livemode})
        signals.order_completed.send(sender=Order, order=order)
        order_events_emit(order, events.ORDER_COMPLETED)
    return order


def _expires_minutes() -> int:
    return max(30, min(int(settings.MARKETPLACE_CHECKOUT_EXPIRES_MINUTES), 24 * 60))


def _pending_claim(*, buyer, listing: Listing, livemode: bool) -> tuple[Order, bool]:
    """Under the listing's row lock: the buyer's pending order whose session is still open
    (reused: False), or a new pending order row without a session (True). A start still waiting
    for Stripe is 409 idempotency_in_flight; a sessionless row left by a crash is expired."""
    now = timezone.now()
    open_since = now - timedelta(minutes=_expires_minutes()) + REUSE_MARGIN
    with transaction.atomic():
        Listing.objects.select_for_update().filter(pk=listing.pk).first()
        pending = Order.objects.filter(buyer=buyer, listing=listing, livemode=livemode, status=Order.Status.PENDING)
        reusable = pending.exclude(checkout_session_id="").filter(created_at__gt=open_since).order_by("-created_at").first()
        if reusable is not None:
            return reusable, False
        if pending.filter(checkout_session_id="", created_at__gt=now - START_IN_FLIGHT).exists():
            raise AppError(ErrorCode.IDEMPOTENCY_IN_FLIGHT, "A checkout for this listing is being started; try again "
                           "in a moment.", retry_after=5, details={"listing_id": str(listing.pk)})
        pending.filter(checkout_session_id="").update(status=Order.Status.EXPIRED, updated_at=now)
        order = Order.objects.create(listing=listing, partner=listing.partner, buyer=buyer, livemode=livemode,
                                     status=Order.Status.PENDING, amount_minor=listing.amount_minor,
                                     currency=listing.currency, revenue_share=listing.partner.revenue_share)
    return order, True


def _older_sessions_expire(client, order: Order) -> None:
    """Before a new session: the buyer's older pending sessions of the listing that may still be
    open (too close to their end to be offered again) expired at Stripe, so they cannot be paid
    too, and their orders expired. One Stripe no longer lets expire (paid meanwhile, or expired
    already) is left to its own event. Stripe out of reach: 503, no new session."""
    since = timezone.now() - timedelta(minutes=_expires_minutes())
    older = (Order.objects.filter(buyer=order.buyer, listing=order.listing, livemode=order.livemode,
                                  status=Order.Status.PENDING, created_at__gt=since)
             .exclude(checkout_session_id="").exclude(pk=order.pk))
    for old in older:
        try:
            with stripe_errors():
                client.v1.checkout.sessions.expire(old.checkout_session_id)
        except AppError as exc:
            if exc.code != ErrorCode.BILLING_PROVIDER_ERROR:
                raise
            continue  # not open any more: completed (its event completes it) or expired already
        Order.objects.filter(pk=old.pk, status=Order.Status.PENDING).update(status=Order.Status.EXPIRED,
                                                                           updated_at=timezone.now())


def _order_paid(*, buyer, listing: Listing, livemode: bool) -> Order:
    client = stripe_client(livemode=livemode)  # 503 billing_not_configured before anything is stored
    customer = stripe_customer_for(user=buyer, livemode=livemode)
    order, created = _pending_claim(buyer=buyer, listing=listing, livemode=livemode)
    if not created:
        return order
    try:
        _older_sessions_expire(client, order)
    except Exception:
        Order.objects.filter(pk=order.pk, status=Order.Status.PENDING, checkout_session_id="").delete()
        raise
    metadata = {"order_id": str(order.pk), "listing_id": str(listing.pk)}
    expires_at = order.created_at + timedelta(minutes=_expires_minutes())
    params = {
        "mode": "payment", "customer": customer.stripe_id,
        "line_items": [{"quantity": 1, "price_data": {
            "currency": listing.currency, "unit_amount": listing.amount_minor,
            "product_data": {"name": listing.name, "metadata": {"listing_id": str(listing.pk)}}}}],
        "metadata": metadata, "client_reference_id": str(buyer.pk),
        "payment_intent_data": {"transfer_group": f"order_{order.pk}", "metadata": metadata},
        "success_url": site_url(f"/marketplace/{listing.slug}?purchase=success&order={order.pk}"),
        "cancel_url": site_url(f"/marketplace/{listing.slug}?purchase=cancelled"),
        "expires_at": int(expires_at.timestamp()),
    }
    try:
        with stripe_errors():
            session = client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": f"levqor-order-{order.pk}"})
    except Exception:
        # Nothing references the row yet: gone, so the next try starts afresh.
        Order.objects.filter(pk=order.pk, status=Order.Status.PENDING, checkout_session_id="").delete()
        raise
    Order.objects.filter(pk=order.pk).update(checkout_session_id=session.id, checkout_url=session.url or "",
                                             updated_at=timezone.now())
    order.refresh_from_db()
    return order
