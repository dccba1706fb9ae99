"""The profit ledger: money in and out by day, kind and currency, each entry from one source.

`source` names what the entry was made from (a Stripe balance transaction, a day's job costs, a
month's infra cost, an order's payout) and is unique, so processing the same thing again adds
nothing. Amounts are positive integer minor units; the kind says which way the money went.

InfraCost is a month's infrastructure bill as entered in admin; it becomes one infra_cost entry
per day of the month (intelligence.services.ledger_costs)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        REVENUE = "revenue"
        REFUND = "refund"
        STRIPE_FEE = "stripe_fee"
        # Stripe fees given back (a refund's balance transaction with a negative fee): lowers stripe_fees.
        FEE_REFUND = "fee_refund"
        AI_COST = "ai_cost"
        INFRA_COST = "infra_cost"
        PAYOUT = "payout"
        # A partner's payout taken back (a refunded order): lowers payouts.
        PAYOUT_REVERSAL = "payout_reversal"
        # The marketplace's part of an order's revenue (amount - partner share): already inside
        # revenue, reported beside it (platform_fees), never added to revenue nor to costs.
        PLATFORM_FEE = "platform_fee"
        # The platform's fee given back with a refund (its share of the amount refunded): lowers
        # platform_fees.
        PLATFORM_FEE_REVERSAL = "platform_fee_reversal"

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    kind = models.CharField(max_length=24, choices=Kind.choices)
    amount_minor = models.BigIntegerField(help_text="Positive, in minor units of the currency.")
    currency = models.CharField(max_length=3, help_text="Upper-case ISO 4217 code.")
    source = models.CharField(max_length=255, unique=True,
                              help_text="What this entry was made from, e.g. stripe:txn_123:fee. Unique.")
    # Whose money it was, where known (revenue and refunds): growth counts revenue by signup source.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    # A payout owed to a partner and not yet paid (the marketplace clears it when it pays).
    pending = models.BooleanField(default=False)
    memo = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["day", "kind", "currency"], name="ledger_day_kind_currency"),
                   models.Index(fields=["kind", "pending"], name="ledger_kind_pending")]
        constraints = [models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="ledger_amount_positive")]

    def __str__(self):
        return f"{self.day} {self.kind} {self.amount_minor} {self.currency}"


class InfraCost(models.Model):
    """A month's infrastructure cost in one currency, typed in admin. Saving it (again) replaces
    its ledger entries: one per day of the month, sources carrying `revision` so an edited month's
    entries are new sources, never a changed amount behind an old one."""

    month = models.DateField(help_text="The first day of the month.")
    currency = models.CharField(max_length=3, help_text="Upper-case ISO 4217 code.")
    amount_minor = models.BigIntegerField(help_text="The month's total, in minor units.")
    note = models.CharField(max_length=255, blank=True, default="")
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revision = models.PositiveIntegerField(default=1, help_text="Bumped on every edit; in the entries' sources.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-month", "currency"]
        verbose_name = "infrastructure cost"
        constraints = [
            models.UniqueConstraint(fields=["month", "currency"], name="infracost_month_currency"),
            models.CheckConstraint(condition=models.Q(amount_minor__gte=0), name="infracost_amount_positive"),
            models.CheckConstraint(condition=models.Q(month__day=1), name="infracost_month_first_day"),
        ]

    def __str__(self):
        return f"infra {self.month:%Y-%m} {self.amount_minor} {self.currency}"
