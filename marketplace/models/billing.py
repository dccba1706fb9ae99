"""Billing tables: Stripe customers, subscriptions, the paid tiers' prices, promotion codes,
Checkout sessions, and the Stripe webhook's event table (each event stored once, by its id).

Amounts are integer minor units with a lower-case ISO currency, as Stripe sends them."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from levqor.money import minor_display


class StripeCustomer(models.Model):
    """The Stripe customer of a user, one per mode: test-mode keys get their own (test) customer."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stripe_customers")
    livemode = models.BooleanField(default=True)
    stripe_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "livemode"], name="stripecustomer_user_mode")]

    def __str__(self):
        return self.stripe_id


class Subscription(models.Model):
    """A Stripe subscription to a paid tier, as the last applied event left it. `event_created`
    (the Stripe event's `created`, epoch seconds) is the ordering guard: an older event never
    moves a subscription backwards."""

    id = models.BigAutoField(primary_key=True)
    stripe_id = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions")
    livemode = models.BooleanField(default=True)
    tier = models.CharField(max_length=16)
    status = models.CharField(max_length=32, help_text="Stripe's status: active, trialing, past_due, canceled...")
    price_id = models.CharField(max_length=255, blank=True, default="")
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # After a failed payment: the paid tier is kept until then, then the user goes to sandbox.
    grace_until = models.DateTimeField(null=True, blank=True)
    # A cheaper tier the subscription moves to at current_period_end ("" none): a downgrade keeps
    # what was paid for until the period it was paid for ends (marketplace.services.billing_events).
    pending_tier = models.CharField(max_length=16, blank=True, default="")
    event_created = models.BigIntegerField(default=0)
    # The ordering guard of payments (grace): the `created` of the last payment outcome applied
    # (invoice.paid, invoice.payment_failed, or a subscription event that said active again). An
    # older one changes no grace: a failure Stripe delivers after the later payment is ignored.
    payment_event_created = models.BigIntegerField(default=0)
    # Erasure: the account was erased, so the subscription must stop billing. Set in the erasure's
    # transaction; marketplace.services.erasure cancels it at Stripe, again every sweep until
    # Stripe confirms (status canceled). cancel_error: why the last try did not (shown in admin).
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user", "livemode"], name="subscription_user_mode"),
                   models.Index(fields=["grace_until"], name="subscription_grace"),
                   # Paid conversions of a window (intelligence's daily discount rule).
                   models.Index(fields=["livemode", "created_at"], name="subscription_mode_created"),
                   # The period-end sweep: downgrades and cancellations whose period has ended.
                   models.Index(fields=["current_period_end"], name="subscription_period_end"),
                   # The cancel sweep: erased accounts' subscriptions Stripe has not cancelled yet.
                   models.Index(fields=["cancel_requested_at"], name="subscription_cancel_requested")]

    def __str__(self):
        return f"{self.stripe_id} ({self.tier}, {self.status})"


class TierPrice(models.Model):
    """A Stripe Price of a paid tier. The active one per tier and mode is what new subscriptions
    get (its lookup key follows it); existing subscriptions keep the price they were sold at."""

    class Source(models.TextChoices):
        SYNC = "sync", "stripe_sync_products"
        PRICING = "pricing", "adaptive pricing"

    id = models.BigAutoField(primary_key=True)
    tier = models.CharField(max_length=16)
    livemode = models.BooleanField(default=True)
    stripe_product_id = models.CharField(max_length=255)
    stripe_price_id = models.CharField(max_length=255, unique=True)
    lookup_key = models.CharField(max_length=200)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    active = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SYNC)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tier", "livemode"], condition=models.Q(active=True),
                                               name="tierprice_one_active")]

    def __str__(self):
        return f"{self.tier} {minor_display(self.amount_minor, self.currency)} {self.currency.upper()} ({self.stripe_price_id})"


class PromotionCode(models.Model):
    """A discount code (LEVQOR-XXXXXXXX): a Stripe Coupon + Promotion Code when Stripe is
    configured. Honoured at checkout only while active and not past valid_until."""

    id = models.BigAutoField(primary_key=True)
    code = models.CharField(max_length=32, unique=True)
    percent_off = models.PositiveSmallIntegerField()
    reason = models.CharField(max_length=64, blank=True, default="")
    livemode = models.BooleanField(default=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    stripe_coupon_id = models.CharField(max_length=255, blank=True, default="")
    stripe_promotion_code_id = models.CharField(max_length=255, blank=True, default="")
    active = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The daily sweep deactivates active codes past valid_until.
        indexes = [models.Index(fields=["active", "valid_until"], name="promotioncode_active_until")]

    def __str__(self):
        return f"{self.code} ({self.percent_off}%)"


class CheckoutSession(models.Model):
    """A Stripe Checkout Session we created: who, for what, with which code, and how it ended."""

    class Status(models.TextChoices):
        OPEN = "open"
        COMPLETE = "complete"
        EXPIRED = "expired"

    id = models.BigAutoField(primary_key=True)
    stripe_id = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="checkout_sessions")
    livemode = models.BooleanField(default=True)
    mode = models.CharField(max_length=16, default="subscription")
    tier = models.CharField(max_length=16, blank=True, default="")
    promotion_code = models.ForeignKey(PromotionCode, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="checkout_sessions")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    url = models.URLField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["promotion_code", "status"], name="checkout_code_status")]

    def __str__(self):
        return self.stripe_id


class StripeEvent(models.Model):
    """A Stripe webhook event, stored once by its id when it arrives (a repeat changes nothing)
    and processed on the workers. The payload is the event as Stripe sent it."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored", "ignored (a type we do not handle)"
        FAILED = "failed"

    id = models.CharField(primary_key=True, max_length=255)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(default=False)
    created = models.BigIntegerField(help_text="Stripe's `created` (epoch seconds): orders events of one object.")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # Why it ended as it did, when that is not obvious: "stale: ...", "customer not ours", "test mode ...".
    note = models.CharField(max_length=255, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When the user was told about this event (the dunning email): processing it again (the
    # admin's "Process again") tells nobody twice.
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "received_at"], name="stripeevent_status_received"),
                   models.Index(fields=["type", "received_at"], name="stripeevent_type_received")]

    def __str__(self):
        return f"{self.id} {self.type}"
