"""Partners, the governance policy they are held to, and the append-only review trail."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from levqor.rotating_secret import RotatingSecret

DEFAULT_FORBIDDEN_PATHS = ["/auth/root", "/internal/", "/admin/", "/ops/"]


class PolicyVersion(models.Model):
    """The governance policy. Never edited in place: a change is a new version, and the highest
    version is in force. Each rule is enforced at one named place (README, Partners)."""

    version = models.PositiveIntegerField(unique=True)
    revenue_share_default = models.DecimalField(max_digits=4, decimal_places=3, default=Decimal("0.700"),
                                                validators=[MinValueValidator(0), MaxValueValidator(1)])
    approval_required = models.BooleanField(default=True)
    review_interval_days = models.PositiveIntegerField(default=90)
    review_overdue_days = models.PositiveIntegerField(default=14)
    forbidden_paths = models.JSONField(default=list)
    listing_price_min_minor = models.PositiveIntegerField(default=0)
    listing_price_max_minor = models.PositiveIntegerField(default=99999)  # 999.99 in the listing's currency
    https_required = models.BooleanField(default=True)
    webhook_timeout_seconds = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1),
                                                                                 MaxValueValidator(30)])
    suspend_failed_webhooks = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1)])
    suspend_user_reports = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    suspend_rating_below = models.DecimalField(max_digits=3, decimal_places=2, default=Decimal("2.00"),
                                               validators=[MinValueValidator(0), MaxValueValidator(5)])
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    reason = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-version"]
        verbose_name = "governance policy version"

    def __str__(self):
        return f"policy v{self.version}"

    def clean(self):
        """The rules that hang together across fields, for every caller (the admin's form, the
        service): a price range that is a range, forbidden paths that are paths."""
        errors = {}
        low, high = self.listing_price_min_minor, self.listing_price_max_minor
        if low is not None and high is not None and low > high:
            errors["listing_price_max_minor"] = (f"The highest listing price ({high}) is below the lowest ({low}).")
        paths = self.forbidden_paths
        if not isinstance(paths, list) or not paths:
            errors["forbidden_paths"] = "List at least one forbidden path."
        else:
            bad = [p for p in paths if not isinstance(p, str) or not p.strip() or not p.startswith("/") or p != p.strip()]
            if bad:
                errors["forbidden_paths"] = (f"Every forbidden path starts with \"/\" and is not empty: "
                                             f"{', '.join(repr(p) for p in bad)}.")
            elif len(set(paths)) != len(paths):
                errors["forbidden_paths"] = "A forbidden path is listed twice."
        if errors:
            raise ValidationError(errors)


class Partner(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partners")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    webhook_url = models.URLField(max_length=1024)
    revenue_share = models.DecimalField(max_digits=4, decimal_places=3,
                                        validators=[MinValueValidator(0), MaxValueValidator(1)])
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=500, blank=True, default="")
    status_changed_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    # Review cycle: due after the policy's interval from approval; set when it falls due.
    next_review_at = models.DateTimeField(null=True, blank=True)
    review_due_since = models.DateTimeField(null=True, blank=True)
    # Kept current by the ratings service, so lists and the risk score need no aggregate per row.
    rating_avg = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    rating_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)  # soft delete: the trail stays

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One account owns one partner (a deleted one does not count).
            models.UniqueConstraint(fields=["owner"], condition=models.Q(deleted_at__isnull=True),
                                    name="partner_one_per_owner"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="partner_status"),
            models.Index(fields=["next_review_at"], name="partner_review_due",
                         condition=models.Q(status="approved")),
        ]

    def __str__(self):
        return self.name

    @property
    def is_approved(self) -> bool:
        return self.status == self.Status.APPROVED and self.deleted_at is None


class PartnerReviewEvent(models.Model):
    """One status change of a partner: who (None: the system), when, from, to, why. Append-only:
    the admin shows it read-only and nothing updates or deletes it."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="review_events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["partner", "-at"], name="partner_review_event")]

    def __str__(self):
        return f"{self.from_status or '-'} -> {self.to_status}"


class PartnerRating(models.Model):
    """A user's rating of a partner, 1 to 5: one per user per partner, changeable."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="partner_ratings")
    stars = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "user"], name="partner_rating_once_per_user"),
            models.CheckConstraint(condition=models.Q(stars__gte=1, stars__lte=5), name="partner_rating_1_to_5"),
        ]

    def __str__(self):
        return f"{self.stars}/5"


class PartnerReport(models.Model):
    """A user's report of a partner, with a reason; reviewed in admin (upheld or dismissed)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        UPHELD = "upheld", "Upheld"
        DISMISSED = "dismissed", "Dismissed"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                 related_name="partner_reports")
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    review_note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["partner", "status"], name="partner_report_status")]
        constraints = [
            # One open report per reporter per partner, however many requests race (reports service).
            models.UniqueConstraint(fields=["partner", "reporter"], condition=models.Q(status="open"),
                                    name="partner_report_open_once"),
        ]

    def __str__(self):
        return f"report on {self.partner_id} ({self.status})"


class PartnerAudit(models.Model):
    """One audit of a partner: the checks that ran and what each found (partners.services.audits).
    Append-only: written once when the audit finishes; the admin shows it read-only."""

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        MANUAL = "manual", "Manual"

    class Outcome(models.TextChoices):
        PASS = "pass", "Pass"
        WARN = "warn", "Warn"
        FAIL = "fail", "Fail"

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="audits")
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    # [{"check", "ok", "severity": info|warning|critical, "detail"}], in the order the checks ran.
    findings = models.JSONField(default=list)
    policy_version = models.PositiveIntegerField()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["partner", "-started_at"], name="partner_audit_latest"),
            models.Index(fields=["started_at"], name="partner_audit_started"),  # the risk score's 30 days
        ]

    def __str__(self):
        return f"audit of {self.partner_id}: {self.outcome}"


class PartnerCredential(RotatingSecret):
    """A partner's signing credential for the signed partner API: a public key id and a secret
    both sides hold (HMAC), so the secret is kept encrypted at rest (it must be read back to
    verify) and shown to the partner once. A rotation keeps the previous secret verifying until
    previous_secret_expires_at (levqor.rotating_secret); a revocation stops it at once and
    forgets both secrets."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="credentials")
    key_id = models.CharField(max_length=28, unique=True)  # lpk_ + 24 hex; unique, so indexed
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)  # written at most once a minute

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "revoked_at"], name="partner_credential_live")]

    def __str__(self):
        return self.key_id

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None

    def verifying_secrets(self, now=None) -> list[str]:
        """The secrets a signature may be made with now: the current one, and the previous one
        during a rotation's overlap. None once revoked."""
        return [] if self.revoked_at is not None else self.valid_secrets(now)
