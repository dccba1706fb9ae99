"""Adaptive pricing and discounts (issue 11 §3, §4): what the formulas suggested, from which
inputs, and what became of it. The Stripe side (the pro tier's Price, the promotion codes) is
marketplace's; these rows point at it and keep the record of the decision."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class PriceSuggestion(models.Model):
    """The reference formula's price for a tier from the last 30 days (runs, p95, costs), as a
    suggestion: applied (the tier's new Stripe Price for new subscriptions), held (stabilize mode
    held the automatic apply), dismissed by an operator, or still suggested."""

    class Status(models.TextChoices):
        SUGGESTED = "suggested"
        APPLIED = "applied"
        HELD = "held", "held (stabilize)"
        DISMISSED = "dismissed"
        APPLYING = "applying", "applying (at Stripe)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        ADMIN = "admin", "operator"

    id = models.BigAutoField(primary_key=True)
    tier = models.CharField(max_length=16, default="pro")
    currency = models.CharField(max_length=3, help_text="Lower-case ISO code, as the tier's Stripe prices.")
    suggested_minor = models.BigIntegerField(help_text="The formula's price in minor units.")
    current_minor = models.BigIntegerField(null=True, blank=True,
                                           help_text="The tier's price for new subscriptions when suggested.")
    inputs = models.JSONField(default=dict, help_text="runs, p95, costs, the window: what the formula was fed.")
    formula = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUGGESTED)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULE)
    # The month a scheduled run computed for (its first day): one scheduled suggestion a month.
    month = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Empty when the schedule computed it.")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who applied or dismissed it; empty when automatic.")
    stripe_price_id = models.CharField(max_length=255, blank=True, default="", help_text="The Price it became.")
    note = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["-created_at"], name="pricesuggestion_created")]
        constraints = [models.UniqueConstraint(fields=["tier", "month"], condition=Q(trigger="schedule"),
                                               name="pricesuggestion_one_per_month")]

    def __str__(self):
        return f"{self.tier} {self.suggested_minor / 100:.2f} {self.currency.upper()} ({self.status})"


class DiscountSuggestion(models.Model):
    """The day's discount from the last 7 days' signups and paid conversions (the reference rule),
    with its code (a marketplace PromotionCode). One a day."""

    class Reason(models.TextChoices):
        LOW_SIGNUPS = "low_signups", "low_signups"
        LOW_CONVERSIONS = "low_conversions", "low_conversions"
        HEALTHY_GROWTH = "healthy_growth", "healthy_growth"

    class Status(models.TextChoices):
        SUGGESTED = "suggested", "suggested (waiting)"
        HELD = "held", "held (stabilize)"
        ACTIVE = "active", "active"
        INACTIVE = "inactive", "deactivated"
        EXPIRED = "expired", "expired"

    id = models.BigAutoField(primary_key=True)
    day = models.DateField(unique=True)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    percent_off = models.PositiveSmallIntegerField()
    duration_days = models.PositiveSmallIntegerField()
    valid_until = models.DateTimeField()
    inputs = models.JSONField(default=dict, help_text="signups, paid, the window and what counted as paid.")
    promotion_code = models.OneToOneField("marketplace.PromotionCode", on_delete=models.PROTECT,
                                          related_name="discount_suggestion")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SUGGESTED)
    created_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="The operator who activated or deactivated it.")
    note = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-day"]
        indexes = [models.Index(fields=["status", "valid_until"], name="discount_status_until")]

    def __str__(self):
        return f"{self.day} {self.percent_off}% {self.reason}"
