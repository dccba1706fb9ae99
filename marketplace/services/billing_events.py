"""Processing a stored Stripe event (on the workers), one handler per type, and the sweeps that
apply what falls due later (period-end downgrades, grace expiries) or was lost (events left
`received`).

Rules, so an event processed twice, late or out of order does no harm:
- one event at a time: the StripeEvent row is locked and only a `received` one is processed;
  the handler runs in a savepoint, so a failure leaves nothing half-done and counts an attempt
  (BILLING_EVENT_MAX_ATTEMPTS, then `failed`, visible in admin);
- a subscription never moves backwards: an event older (`created`) than the last one applied to
  that subscription (Subscription.event_created) is recorded as processed, note "stale", and
  changes nothing;
- a user's tier moves only through accounts.services.tiers.user_tier_set, to what the user's
  subscriptions entitle now (subscription_entitlement): up at once, down only when the period
  paid for ends (a downgrade or cancel_at_period_end) or the grace of a failed payment runs out.

Modes. A subscription's mode is its customer's (StripeCustomer.livemode: test-mode API keys get
test customers). Only subscriptions of live customers move a user's tier. A Stripe test-mode
event (livemode false) can belong to a live customer only on a deployment whose live key is
itself a test key (sk_test_: staging, where Stripe sends every event as test mode); there it
counts as live. Anywhere else such an event is recorded and ignored with the mismatch as note.
Test-mode subscriptions are recorded and kept up to date, but never touch a tier or send email."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from levqor.money import minor_display
from levqor.site import site_url
from levqor.tasks_queue import task_enqueue
from marketplace import signals
from marketplace.models import CheckoutSession, Order, StripeCustomer, StripeEvent, Subscription
from marketplace.selectors import tier_for_price, tier_rank
from marketplace.services.connect import connect_account_apply
from marketplace.services.subscriptions import subscription_roll, user_tier_follow
from marketplace.stripe_api import stripe_client, stripe_errors

logger = logging.getLogger("levqor.billing")

PROCESS_TASK = "marketplace.tasks.stripe_event_process"


@dataclass(frozen=True)
class Outcome:
    status: str
    note: str = ""


PROCESSED = StripeEvent.Status.PROCESSED
IGNORED = StripeEvent.Status.IGNORED


# --- receiving ------------------------------------------------------------------------------------

def stripe_event_store(*, payload: dict) -> tuple[StripeEvent, bool]:
    """Store a verified event once by its id and hand it to the workers after the commit.
    (event, created): a repeat, even a concurrent one, finds the stored row and queues nothing."""
    with transaction.atomic():
        event, created = StripeEvent.objects.get_or_create(
            id=payload["id"], defaults={"type": payload["type"], "livemode": bool(payload.get("livemode")),
                                        "created": int(payload["created"]), "payload": payload})
        if created:
            transaction.on_commit(lambda: task_enqueue(PROCESS_TASK, event.pk))
    return event, created


# --- processing -----------------------------------------------------------------------------------

def stripe_event_process(*, event_id: str) -> str | None:
    """Process a stored event if it is still `received`: its handler in a savepoint, then the
    event marked processed / ignored with a note, and stripe_event_processed sent. A handler that
    raises counts an attempt and leaves the event `received` for the sweep, or `failed` once
    BILLING_EVENT_MAX_ATTEMPTS are spent. Returns the event's status, None if there was nothing to do.

    What a handler needs from Stripe is fetched first (FETCHERS), outside any transaction: no
    row is locked (nor SQLite's write lock held) while Stripe answers; a failed fetch counts an
    attempt like a failed handler."""
    pending = StripeEvent.objects.filter(pk=event_id, status=StripeEvent.Status.RECEIVED).first()
    if pending is None:
        return None
    fetched, fetch_error = {}, None
    fetcher = FETCHERS.get(pending.type)
    if fetcher is not None:
        try:
            fetched = fetcher(pending)
        except Exception as exc:  # counted below, under the lock, like a handler's failure
            fetch_error = exc
    with transaction.atomic():
        event = StripeEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.status != StripeEvent.Status.RECEIVED:
            return None
        event.attempts += 1
        try:
            with transaction.atomic():
                if fetch_error is not None:
                    raise fetch_error
                outcome = HANDLERS.get(event.type, _unhandled)(event, **fetched)
                event.status, event.note = outcome.status, outcome.note[:255]
                event.processed_at, event.last_error = timezone.now(), ""
                event.save(update_fields=["status", "note", "processed_at", "last_error", "attempts"])
                signals.stripe_event_processed.send(sender=StripeEvent, event=event)
        except Exception as exc:
            logger.warning("stripe event %s (%s) failed, attempt %s", event.pk, event.type, event.attempts,
                           exc_info=True)
            event.status = (StripeEvent.Status.FAILED if event.attempts >= settings.BILLING_EVENT_MAX_ATTEMPTS
                            else StripeEvent.Status.RECEIVED)
            event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            event.processed_at = timezone.now() if event.status == StripeEvent.Status.FAILED else None
            event.note = ""
            event.save(update_fields=["status", "note", "processed_at", "last_error", "attempts"])
    return event.status


def stripe_event_retry(*, event: StripeEvent) -> bool:
    """An operator's "process again": the event back to `received` with its attempts reset, handed
    to the workers after the commit. Handlers are idempotent, so a processed event is safe too."""
    with transaction.atomic():
        changed = StripeEvent.objects.filter(pk=event.pk).update(
            status=StripeEvent.Status.RECEIVED, attempts=0, last_error="", note="", processed_at=None)
        if changed:
            transaction.on_commit(lambda: task_enqueue(PROCESS_TASK, event.pk))
    return bool(changed)


def stripe_events_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Hand the workers again every event still `received` BILLING_EVENT_RETRY_SECONDS after it
    arrived (its task lost, or an attempt failed): nothing Stripe sent is lost. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.BILLING_EVENT_RETRY_SECONDS)
    ids = list(StripeEvent.objects.filter(status=StripeEvent.Status.RECEIVED, received_at__lte=cutoff)
               .order_by("received_at").values_list("pk", flat=True)[:limit])
    for event_id in ids:
        task_enqueue(PROCESS_TASK, event_id)
    return len(ids)


# --- who the event is about -----------------------------------------------------------------------

def _live_key_is_test_key() -> bool:
    return settings.STRIPE_SECRET_KEY.startswith("sk_test_")


def _customer_of(event: StripeEvent, customer_id) -> tuple[StripeCustomer | None, str]:
    """Our customer named by the event, or (None, why not): unknown, or a mode that does not match."""
    if isinstance(customer_id, dict):
        customer_id = customer_id.get("id")
    if not customer_id:
        return None, "no customer on the event"
    customer = StripeCustomer.objects.select_related("user").filter(stripe_id=customer_id).first()
    if customer is None:
        return None, f"customer {customer_id} is not ours"
    if customer.livemode and not event.livemode and not _live_key_is_test_key():
        return None, "a test-mode event for a live customer (the live key is a live key): ignored"
    if not customer.livemode and event.livemode:
        return None, "a live event for a test-mode customer: ignored"
    return customer, ""


def _ts(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _subscription_price(data: dict) -> tuple[str, str, int | None]:
    """(price id, lookup key, item's current_period_end) of a subscription's first item."""
    items = ((data.get("items") or {}).get("data") or [])
    if not items:
        return "", "", None
    price = items[0].get("price") or {}
    if isinstance(price, str):
        return price, "", items[0].get("current_period_end")
    return price.get("id", ""), price.get("lookup_key") or "", items[0].get("current_period_end")


# --- handlers -------------------------------------------------------------------------------------

def _subscription_apply(event: StripeEvent, data: dict, *, customer: StripeCustomer) -> Outcome:
    """A subscription's state from an event's object, unless an event of it newer than this one
    was applied already; then the user's tier follows (up now, down when due)."""
    now = timezone.now()
    subscription = Subscription.objects.select_for_update().filter(stripe_id=data["id"]).first()
    if subscription is not None and event.created < subscription.event_created:
        return Outcome(PROCESSED, f"stale: older than the last applied event of {data['id']} "
                                  f"({event.created} < {subscription.event_created}); nothing changed")
    price_id, lookup_key, item_period_end = _subscription_price(data)
    tier = tier_for_price(price_id=price_id, lookup_key=lookup_key) or (data.get("metadata") or {}).get("tier", "")
    if tier_rank(tier) == 0:
        return Outcome(IGNORED, f"price {price_id or '?'} is not a paid tier's")
    status = "canceled" if event.type == "customer.subscription.deleted" else data.get("status", "")
    period_end = _ts(data.get("current_period_end") or item_period_end)
    rolled = ""
    if subscription is None:
        subscription = Subscription(stripe_id=data["id"], user=customer.user, livemode=customer.livemode, tier=tier)
    else:
        rolled = subscription_roll(subscription, now=now)
        if tier_rank(tier) >= tier_rank(subscription.tier):
            subscription.tier, subscription.pending_tier = tier, ""  # up (or the same): at once
        else:
            subscription.pending_tier = tier  # down: when the period paid for ends
    subscription.status = status
    subscription.price_id = price_id
    subscription.current_period_end = period_end
    subscription.cancel_at_period_end = bool(data.get("cancel_at_period_end"))
    subscription.event_created = event.created
    if (status in ("active", "trialing") and subscription.grace_until is not None
            and event.created > subscription.payment_event_created):
        # Stripe says active after the failure that started the grace: it was paid (its
        # invoice.paid may still be on its way, or lost).
        subscription.grace_until, subscription.payment_event_created = None, event.created
    subscription.user = customer.user
    subscription.save()
    old, new = user_tier_follow(subscription=subscription, now=now, reason=rolled)
    signals.subscription_changed.send(sender=Subscription, subscription=subscription, old_tier=old, new_tier=new,
                                      event=event)
    return Outcome(PROCESSED, "" if customer.livemode else "test-mode subscription: no tier change")


def _on_subscription(event: StripeEvent) -> Outcome:
    data = event.payload["data"]["object"]
    customer, why = _customer_of(event, data.get("customer"))
    if customer is None:
        return Outcome(IGNORED, why)
    return _subscription_apply(event, data, customer=customer)


def _checkout_subscription_id(data: dict) -> str:
    found = data.get("subscription") or ""
    return found.get("id", "") if isinstance(found, dict) else found


def _fetch_checkout_subscription(event: StripeEvent) -> dict:
    """Before the transaction: the subscription of a completed subscription-mode checkout of one of
    our customers, from Stripe ({"subscription": dict}); {} when the handler will not need it."""
    data = event.payload["data"]["object"]
    if data.get("mode") != "subscription" or not _checkout_subscription_id(data):
        return {}
    customer, _ = _customer_of(event, data.get("customer"))
    if customer is None:
        return {}
    with stripe_errors():
        fetched = stripe_client(livemode=customer.livemode).v1.subscriptions.retrieve(
            _checkout_subscription_id(data), params={"expand": ["items.data.price"]})
    return {"subscription": fetched.to_dict()}


def _fetch_checkout(event: StripeEvent) -> dict:
    """A marketplace order's session: its payment intent (order_events); else the subscription."""
    from marketplace.services.order_events import order_payment_fetch, order_session_is_ours

    if order_session_is_ours(event.payload["data"]["object"]):
        return order_payment_fetch(event)
    return _fetch_checkout_subscription(event)


def _on_checkout_completed(event: StripeEvent, subscription: dict | None = None,
                           payment_intent: dict | None = None) -> Outcome:
    """The Checkout Session complete, its subscription (fetched from Stripe before the transaction)
    applied: the tier goes up at once, without waiting for customer.subscription.created. A
    marketplace order's session (payment mode) completes the order (order_events)."""
    data = event.payload["data"]["object"]
    from marketplace.services.order_events import order_checkout_completed, order_session_is_ours

    if order_session_is_ours(data):
        return order_checkout_completed(event, payment_intent=payment_intent)
    if data.get("mode") != "subscription":
        return Outcome(IGNORED, f"a {data.get('mode')} checkout: not a subscription")
    CheckoutSession.objects.filter(stripe_id=data["id"]).exclude(status=CheckoutSession.Status.COMPLETE).update(
        status=CheckoutSession.Status.COMPLETE, completed_at=timezone.now())
    customer, why = _customer_of(event, data.get("customer"))
    if customer is None:
        return Outcome(IGNORED, why)
    if not _checkout_subscription_id(data):
        return Outcome(IGNORED, "the session has no subscription")
    if subscription is None:  # the customer became ours between the fetch and now: the next attempt fetches
        raise RuntimeError("the checkout's subscription was not fetched; retried")
    return _subscription_apply(event, subscription, customer=customer)


def _on_checkout_expired(event: StripeEvent) -> Outcome:
    """A Checkout Session nobody paid: recorded as expired (it no longer counts as open); a
    marketplace order's, the pending order expired (order_events)."""
    data = event.payload["data"]["object"]
    from marketplace.services.order_events import order_checkout_expired, order_session_is_ours

    if order_session_is_ours(data):
        return order_checkout_expired(event)
    changed = CheckoutSession.objects.filter(stripe_id=data["id"], status=CheckoutSession.Status.OPEN).update(
        status=CheckoutSession.Status.EXPIRED)
    return Outcome(PROCESSED if changed else IGNORED, "" if changed else "no open checkout session of ours")


def _on_checkout_async_failed(event: StripeEvent) -> Outcome:
    """A delayed payment (a bank debit) of a Checkout Session failed: a marketplace order's pending
    order ends as expired (the buyer can start again); a subscription's is left to its invoice."""
    from marketplace.services.order_events import order_checkout_expired, order_session_is_ours

    if order_session_is_ours(event.payload["data"]["object"]):
        return order_checkout_expired(event)
    return Outcome(IGNORED, "not a marketplace order's session: the subscription's invoice events say what failed")


def _invoice_subscription_id(data: dict) -> str:
    found = data.get("subscription") or (((data.get("parent") or {}).get("subscription_details") or {})
                                         .get("subscription")) or ""
    return found.get("id", "") if isinstance(found, dict) else found


def _payment_outcome_stale(subscription: Subscription, created: int, *, paid: bool) -> bool:
    """Whether a payment outcome (paid or failed, Stripe's `created`) is older than the last one
    applied to the subscription, so it changes no grace. At the same second the payment wins: a
    failure then is stale once a payment was applied (no grace runs), a payment never is."""
    if created < subscription.payment_event_created:
        return True
    return not paid and created == subscription.payment_event_created and subscription.grace_until is None


def _on_invoice_paid(event: StripeEvent) -> Outcome:
    """Money in: the grace of a failed payment is over (unless a failure newer than this payment
    was applied already); invoice_paid tells the ledger."""
    data = event.payload["data"]["object"]
    customer, why = _customer_of(event, data.get("customer"))
    if customer is None:
        return Outcome(IGNORED, why)
    subscription = (Subscription.objects.select_for_update().select_related("user")
                    .filter(stripe_id=_invoice_subscription_id(data)).first())
    if subscription is not None and not _payment_outcome_stale(subscription, event.created, paid=True):
        had_grace = subscription.grace_until is not None
        subscription.grace_until, subscription.payment_event_created = None, event.created
        subscription.save(update_fields=["grace_until", "payment_event_created", "updated_at"])
        if had_grace:
            user_tier_follow(subscription=subscription, now=timezone.now())
    charge = data.get("charge") or ""
    paid_at = _ts((data.get("status_transitions") or {}).get("paid_at")) or _ts(event.created)
    signals.invoice_paid.send(sender=StripeEvent, user=customer.user, livemode=customer.livemode,
                              invoice_id=data["id"], charge_id=charge.get("id", "") if isinstance(charge, dict)
                              else charge, amount_minor=int(data.get("amount_paid") or 0),
                              currency=(data.get("currency") or "").lower(), paid_at=paid_at, event=event)
    return Outcome(PROCESSED)


def _payment_failed_email(*, user: User, subscription: Subscription | None, invoice: dict) -> None:
    context = {"user": user, "tier": subscription.tier if subscription else user.tier,
               "grace_until": subscription.grace_until if subscription else None,
               "amount_due": minor_display(int(invoice.get("amount_due") or 0), invoice.get("currency") or ""),
               "currency": (invoice.get("currency") or "").upper(),
               "invoice_url": invoice.get("hosted_invoice_url") or "", "manage_url": site_url("/developer")}
    message = EmailMultiAlternatives(subject="Your Levqor payment failed",
                                     body=render_to_string("marketplace/email/payment_failed.txt", context),
                                     from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
    message.attach_alternative(render_to_string("marketplace/email/payment_failed.html", context), "text/html")
    try:
        message.send()
    except Exception:  # after the commit: the event is processed; a lost email is logged, not retried
        logger.warning("payment-failed email to user %s not sent", user.pk, exc_info=True)


def _on_payment_failed(event: StripeEvent) -> Outcome:
    """Dunning: the paid tier is kept BILLING_GRACE_DAYS from the first failure (later failures do
    not extend it), and the user is told by email (live customers only: test mode sends none), once
    per event (processing it again sends nothing). A failure older than the last payment applied
    (Stripe delivered it late) is stale: no grace, no email."""
    data = event.payload["data"]["object"]
    customer, why = _customer_of(event, data.get("customer"))
    if customer is None:
        return Outcome(IGNORED, why)
    subscription = (Subscription.objects.select_for_update().select_related("user")
                    .filter(stripe_id=_invoice_subscription_id(data)).first())
    if subscription is not None:
        if _payment_outcome_stale(subscription, event.created, paid=False):
            return Outcome(PROCESSED, f"stale: a payment of {subscription.stripe_id} newer than this failure was "
                                      f"applied ({event.created} <= {subscription.payment_event_created}); "
                                      "no grace, no email")
        if subscription.grace_until is None:
            subscription.grace_until = timezone.now() + timedelta(days=settings.BILLING_GRACE_DAYS)
        subscription.payment_event_created = event.created
        subscription.save(update_fields=["grace_until", "payment_event_created", "updated_at"])
    if not customer.livemode:
        return Outcome(PROCESSED, "test-mode customer: no email")
    user = customer.user
    if not (user.is_active and user.email):
        return Outcome(PROCESSED)
    if not StripeEvent.objects.filter(pk=event.pk, notified_at__isnull=True).update(notified_at=timezone.now()):
        return Outcome(PROCESSED, "processed again: the user was emailed about it already")
    transaction.on_commit(lambda: _payment_failed_email(user=user, subscription=subscription, invoice=data))
    return Outcome(PROCESSED)


def _on_charge_refunded(event: StripeEvent) -> Outcome:
    data = event.payload["data"]["object"]
    customer, why = _customer_of(event, data.get("customer"))
    refund_times = [r.get("created") for r in ((data.get("refunds") or {}).get("data") or []) if r.get("created")]
    refunded_at = _ts(max(refund_times)) if refund_times else _ts(event.created)
    signals.charge_refunded.send(
        sender=StripeEvent, user=customer.user if customer else None,
        livemode=customer.livemode if customer else event.livemode, charge_id=data["id"],
        amount_refunded_minor=int(data.get("amount_refunded") or 0), currency=(data.get("currency") or "").lower(),
        refunded_at=refunded_at, event=event)
    from marketplace.services.order_events import order_charge_refunded

    # A marketplace order's charge: the order refunded, the partner's share taken back.
    return Outcome(PROCESSED, order_charge_refunded(event, refunded_at=refunded_at) or why)


def _dispute_charge_id(data: dict) -> str:
    charge = data.get("charge") or ""
    return charge.get("id", "") if isinstance(charge, dict) else charge


def _on_dispute_created(event: StripeEvent) -> Outcome:
    """A customer disputed a charge: charge_disputed, which intelligence turns into an alert. A
    marketplace order's charge: the order's payout is held (disputed) until the dispute is won."""
    data = event.payload["data"]["object"]
    charge_id = _dispute_charge_id(data)
    signals.charge_disputed.send(
        sender=StripeEvent, dispute_id=data["id"], charge_id=charge_id,
        amount_minor=int(data.get("amount") or 0), currency=(data.get("currency") or "").lower(),
        reason=data.get("reason") or "", livemode=event.livemode, event=event)
    held = Order.objects.filter(charge_id=charge_id, disputed_at__isnull=True).update(
        disputed_at=timezone.now(), updated_at=timezone.now()) if charge_id else 0
    return Outcome(PROCESSED, "the order's payout is held while disputed" if held else "")


def _on_dispute_closed(event: StripeEvent) -> Outcome:
    """A dispute closed: won, the order's payout is no longer held; lost (the money went back to
    the buyer), the hold stays for an operator (a refund or the partner's share to settle)."""
    data = event.payload["data"]["object"]
    charge_id = _dispute_charge_id(data)
    if data.get("status") != "won" or not charge_id:
        return Outcome(PROCESSED, f"dispute {data.get('status')}: any payout hold stays")
    released = Order.objects.filter(charge_id=charge_id, disputed_at__isnull=False).update(
        disputed_at=None, updated_at=timezone.now())
    return Outcome(PROCESSED, "dispute won: the order's payout is no longer held" if released else "")


def _on_account_updated(event: StripeEvent) -> Outcome:
    """A partner's connected account changed (Connect: the event names the account at its top
    level, and carries it as its object): payouts_enabled and what Stripe still asks, unless an
    event newer than this one was applied (connect_account_apply)."""
    data = event.payload["data"]["object"]
    account_id = data.get("id") or event.payload.get("account") or ""
    applied, note = connect_account_apply(account_id=account_id, data=data, created=event.created)
    return Outcome(PROCESSED if applied else IGNORED, note)


def _unhandled(event: StripeEvent, **fetched) -> Outcome:
    return Outcome(IGNORED, "a type billing does not handle")


HANDLERS = {
    "checkout.session.completed": _on_checkout_completed,
    "checkout.session.expired": _on_checkout_expired,
    # A delayed payment method (a bank debit) of a marketplace order succeeded after the session completed.
    "checkout.session.async_payment_succeeded": _on_checkout_completed,
    "checkout.session.async_payment_failed": _on_checkout_async_failed,
    "customer.subscription.created": _on_subscription,
    "customer.subscription.updated": _on_subscription,
    "customer.subscription.deleted": _on_subscription,
    "invoice.paid": _on_invoice_paid,
    "invoice.payment_failed": _on_payment_failed,
    "charge.refunded": _on_charge_refunded,
    "charge.dispute.created": _on_dispute_created,
    "charge.dispute.closed": _on_dispute_closed,
    "account.updated": _on_account_updated,
}
# What a handler needs from Stripe, fetched before the processing transaction: type -> fn(event)
# -> the handler's extra keyword arguments.
FETCHERS = {
    "checkout.session.completed": _fetch_checkout,
    "checkout.session.async_payment_succeeded": _fetch_checkout,
}
