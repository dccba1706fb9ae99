"""The marketplace: partners' listings and their review trail, orders (the revenue split), what a
buyer installed, buyers' reviews, partners' Stripe Connect accounts and the payouts made to them.

Money is integer minor units with a lower-case ISO currency (as Stripe sends it). An order keeps
the split it was sold with (revenue_share, partner_share_minor, platform_fee_minor): a later change
of the partner's share never rewrites a sale."""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from levqor.money import minor_display
from levqor.rotating_secret import RotatingSecret


class Listing(RotatingSecret):
    """A partner's module for sale. `secret` (RotatingSecret, encrypted) signs the requests Levqor
    makes to `endpoint` when a buyer runs the module (Standard Webhooks), shown to the partner once."""

    class Category(models.TextChoices):
        AUTOMATION = "automation"
        TEMPLATE = "template"
        INTEGRATION = "integration"
        MODULE = "module"
        WORKFLOW = "workflow"

    class Status(models.TextChoices):
        PENDING_REVIEW = "pending_review", "Pending review"
        PUBLISHED = "published", "Published"
        REJECTED = "rejected", "Rejected"
        DELISTED = "delisted", "Delisted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="listings")
    # The workflow a buyer runs is partner.<slug>: unique, never changed once published.
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=Category.choices)
    amount_minor = models.PositiveIntegerField(default=0, help_text="Price in minor units; 0 is free.")
    currency = models.CharField(max_length=3, default="usd", help_text="Lower-case ISO 4217 code.")
    description = models.TextField(max_length=5000, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    input_schema = models.JSONField(default=dict, help_text="JSON Schema of a run's payload.")
    endpoint = models.URLField(max_length=1024, help_text="https URL Levqor calls to run the module.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING_REVIEW)
    status_reason = models.CharField(max_length=500, blank=True, default="")
    status_changed_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    # Kept current by the services (installs; buyers' reviews), so the list sorts without aggregates.
    downloads = models.PositiveIntegerField(default=0)
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    rating_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-downloads", "-created_at"]
        indexes = [
            models.Index(fields=["status", "-downloads", "-created_at"], name="listing_public"),
            models.Index(fields=["category", "status", "-downloads"], name="listing_category"),
            models.Index(fields=["partner", "status"], name="listing_partner"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="listing_amount_positive"),
        ]

    def __str__(self):
        return self.name

    @property
    def workflow_name(self) -> str:
        return f"partner.{self.slug}"

    @property
    def is_free(self) -> bool:
        return self.amount_minor == 0

    @property
    def price_display(self) -> str:
        return "Free" if self.is_free else minor_display(self.amount_minor, self.currency)


class ListingReviewEvent(models.Model):
    """One status change of a listing: who (None: the system), when, from, to, why. Append-only."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="review_events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["listing", "-at"], name="listing_review_event")]

    def __str__(self):
        return f"{self.from_status or '-'} -> {self.to_status}"


class Order(models.Model):
    """A purchase of a listing. Free: completed at once. Paid: pending until Stripe's
    checkout.session.completed, then completed; paid_out once the partner's share was transferred;
    refunded after charge.refunded; expired when the Checkout Session ran out unpaid."""

    class Status(models.TextChoices):
        PENDING = "pending"
        COMPLETED = "completed"
        PAID_OUT = "paid_out", "Paid out"
        REFUNDED = "refunded"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    listing = models.ForeignKey(Listing, on_delete=models.PROTECT, related_name="orders")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="orders")
    # A financial record outlives the buyer's account (erasure keeps the order, without the person).
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="marketplace_orders")
    livemode = models.BooleanField(default=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    revenue_share = models.DecimalField(max_digits=4, decimal_places=3,
                                        validators=[MinValueValidator(0), MaxValueValidator(1)])
    partner_share_minor = models.PositiveIntegerField(default=0)
    platform_fee_minor = models.PositiveIntegerField(default=0)
    checkout_session_id = models.CharField(max_length=255, blank=True, default="")
    checkout_url = models.URLField(max_length=2000, blank=True, default="")
    payment_intent_id = models.CharField(max_length=255, blank=True, default="")
    charge_id = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    # When the partner's share may be transferred (completed_at + PAYOUT_HOLD_DAYS).
    payout_due_at = models.DateTimeField(null=True, blank=True)
    paid_out_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    amount_refunded_minor = models.PositiveIntegerField(default=0)
    # An open dispute of the order's charge (charge.dispute.created): its payout is held until the
    # dispute is won (charge.dispute.closed, status won).
    disputed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "payout_due_at"], name="order_payout_due"),
            models.Index(fields=["buyer", "livemode", "-created_at"], name="order_buyer"),
            models.Index(fields=["partner", "status"], name="order_partner"),
            models.Index(fields=["charge_id"], name="order_charge", condition=~models.Q(charge_id="")),
            models.Index(fields=["payment_intent_id"], name="order_payment_intent",
                         condition=~models.Q(payment_intent_id="")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["checkout_session_id"], condition=~models.Q(checkout_session_id=""),
                                    name="order_checkout_session_once"),
            models.CheckConstraint(
                condition=models.Q(partner_share_minor__lte=models.F("amount_minor"))
                & models.Q(platform_fee_minor__lte=models.F("amount_minor")),
                name="order_split_within_amount"),
        ]

    def __str__(self):
        return f"order {self.pk} ({self.status})"

    @property
    def amount_display(self) -> str:
        return minor_display(self.amount_minor, self.currency)


class Installation(models.Model):
    """A listing a buyer installed: while it is not uninstalled, the buyer has the workflow
    partner.<slug> (per mode: a test-mode key sees test-mode installs). Uninstalling keeps the row."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="installations")
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="installations")
    livemode = models.BooleanField(default=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="installations")
    created_at = models.DateTimeField(default=timezone.now)
    uninstalled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "listing", "livemode"], condition=models.Q(uninstalled_at__isnull=True),
                                    name="installation_once_live"),
        ]
        indexes = [models.Index(fields=["user", "livemode"], name="installation_user",
                                condition=models.Q(uninstalled_at__isnull=True))]

    def __str__(self):
        return f"{self.listing_id} for {self.user_id}"


class ListingReview(models.Model):
    """A buyer's rating (1 to 5) and review of a listing: one per buyer per listing."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="reviews")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="listing_reviews")
    stars = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    body = models.TextField(max_length=2000, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["listing", "user"], name="listing_review_once"),
            models.CheckConstraint(condition=models.Q(stars__gte=1, stars__lte=5), name="listing_review_1_to_5"),
        ]
        indexes = [models.Index(fields=["listing", "-created_at"], name="listing_review_latest")]

    def __str__(self):
        return f"{self.stars}/5"


class ConnectAccount(models.Model):
    """A partner's Stripe Connect Express account (per mode), kept current by account.updated."""

    id = models.BigAutoField(primary_key=True)
    partner = models.ForeignKey("partners.Partner", on_delete=models.CASCADE, related_name="connect_accounts")
    livemode = models.BooleanField(default=True)
    stripe_account_id = models.CharField(max_length=255, unique=True)
    payouts_enabled = models.BooleanField(default=False)
    charges_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    # What Stripe still asks of the partner (requirements.currently_due), shown on /partners and in admin.
    requirements_due = models.JSONField(default=list, blank=True)
    # The `created` of the last account.updated applied: an older event changes nothing.
    event_created = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["partner", "livemode"], name="connect_account_partner_mode")]

    def __str__(self):
        return self.stripe_account_id


class Payout(models.Model):
    """The transfer of one order's partner share to the partner's connected account (one per order;
    the idempotency key is the order's, payout-<order>, so a retried transfer is never made twice;
    after Stripe refused a transfer the next attempt uses payout-<order>-<attempt>, kept here)."""

    class Status(models.TextChoices):
        PENDING = "pending"      # claimed, the transfer being made (or to be retried)
        PAID = "paid"
        FAILED = "failed"        # Stripe refused; retried by the next run while attempts remain
        REVERSED = "reversed"    # the order was refunded after it was paid

    id = models.BigAutoField(primary_key=True)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="payout")
    partner = models.ForeignKey("partners.Partner", on_delete=models.PROTECT, related_name="payouts")
    connect_account = models.ForeignKey(ConnectAccount, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="payouts")
    livemode = models.BooleanField(default=True)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=100, unique=True)
    stripe_transfer_id = models.CharField(max_length=255, blank=True, default="")
    stripe_reversal_id = models.CharField(max_length=255, blank=True, default="")
    # The key of the next (or last) reversal when Stripe refused the first one for its target.
    reversal_idempotency_key = models.CharField(max_length=120, blank=True, default="")
    # How much of the transfer was taken back after refunds (cumulative, never above amount_minor).
    amount_reversed_minor = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "-created_at"], name="payout_partner"),
                   models.Index(fields=["status"], name="payout_status")]
        permissions = [("retry_payout", "Can retry failed payouts now")]

    def __str__(self):
        return f"payout of {self.order_id} ({self.status})"

    @property
    def amount_display(self) -> str:
        return minor_display(self.amount_minor, self.currency)
