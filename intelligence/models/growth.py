"""The growth funnel and retention: the events (visit, signup, paid, active) and the daily tables
the schedules compute from them in SQL (intelligence.services.growth_aggregates).

Events are personal data (a user, or a visitor's anonymous id): exported and erased through
accounts' registry (intelligence.personal_data). The daily tables hold counts only.

A user's events count under their acquisition source: the source of their signup event (first
touch), or UNATTRIBUTED for users who signed up before growth was recorded."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The source of users without a signup event (created before the funnel was recorded).
UNATTRIBUTED = "(unattributed)"
# RetentionDay's source for the figures over all users.
ALL_SOURCES = ""


class GrowthEvent(models.Model):
    """One step of the funnel. At most one visit per visitor a day, one active per user a day, one
    signup and one (first) paid per user: the constraints make a repeat or a race add nothing."""

    class Kind(models.TextChoices):
        VISIT = "visit"    # a page view by a visitor who consented to analytics (the day's first)
        SIGNUP = "signup"  # a user created, with the attribution remembered for them
        PAID = "paid"      # a user's first move from sandbox to a paid tier (billing's signal)
        ACTIVE = "active"  # a signed-in page view or an API call (the day's first)

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="growth_events")
    # The visitor's anonymous id (compliance's consent cookie id): visits, and the signup it led to.
    visitor = models.CharField(max_length=36, blank=True, default="")
    day = models.DateField(help_text="UTC day of `at`.")
    at = models.DateTimeField(default=timezone.now)
    # Attribution (visit: this visit's; signup and paid: the user's first touch; active: none, it
    # is joined from the user's signup when aggregated).
    source = models.CharField(max_length=100, blank=True, default="")
    campaign = models.CharField(max_length=200, blank=True, default="")
    medium = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["kind", "day"], name="growth_event_kind_day")]
        constraints = [
            models.UniqueConstraint(fields=["user", "day"], condition=Q(kind="active"), name="growth_active_once_a_day"),
            models.UniqueConstraint(fields=["visitor", "day"], condition=Q(kind="visit"),
                                    name="growth_visit_once_a_day"),
            models.UniqueConstraint(fields=["user"], condition=Q(kind="signup"), name="growth_signup_once"),
            models.UniqueConstraint(fields=["user"], condition=Q(kind="paid"), name="growth_paid_once"),
        ]

    def __str__(self):
        return f"{self.day} {self.kind} {self.user_id or self.visitor} {self.source}"


class GrowthDay(models.Model):
    """Growth by source for one UTC day: visits, signups and new paying users (00:10 UTC)."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    source = models.CharField(max_length=100)
    visits = models.PositiveIntegerField(default=0)
    signups = models.PositiveIntegerField(default=0)
    paid = models.PositiveIntegerField(default=0, help_text="Users whose first paid tier began that day.")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "source"], name="growth_day_source_once")]

    def __str__(self):
        return f"{self.day} {self.source}"


class GrowthRevenueDay(models.Model):
    """Revenue (the ledger's revenue entries) of the users of a source, for one day and currency."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    source = models.CharField(max_length=100)
    currency = models.CharField(max_length=3)
    revenue_minor = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "source", "currency"], name="growth_revenue_day_once")]

    def __str__(self):
        return f"{self.day} {self.source} {self.revenue_minor} {self.currency}"


class RetentionDay(models.Model):
    """Active users for one UTC day, over all users (source ALL_SOURCES) and by acquisition
    source: DAU (that day), WAU (the 7 days ending it), MAU (the 30 days ending it), and paying
    users (on a paid tier at the day's end, from accounts' tier audit). 00:05 UTC."""

    id = models.BigAutoField(primary_key=True)
    day = models.DateField()
    source = models.CharField(max_length=100, blank=True)
    dau = models.PositiveIntegerField(default=0)
    wau = models.PositiveIntegerField(default=0)
    mau = models.PositiveIntegerField(default=0)
    paying = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "source"], name="retention_day_source_once")]

    def __str__(self):
        return f"{self.day} {self.source or 'all'}"


class RetentionCohort(models.Model):
    """One cell of the weekly cohort triangle: of the users who signed up in the ISO week starting
    `cohort` (a Monday, UTC), how many were active `weeks_since` weeks later."""

    id = models.BigAutoField(primary_key=True)
    cohort = models.DateField(help_text="Monday of the signup week (UTC).")
    weeks_since = models.PositiveSmallIntegerField()
    size = models.PositiveIntegerField(help_text="Users who signed up that week.")
    active = models.PositiveIntegerField(help_text="Of them, active in week `weeks_since`.")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["cohort", "weeks_since"], name="retention_cohort_cell_once")]

    def __str__(self):
        return f"{self.cohort} +{self.weeks_since}w"
