"""Terms versions and their acceptance, the cookie-consent log, marketing double opt-in and its
audit trail. The logs are append-only: a change of mind is a new row, never an edit (account
erasure is the one exception: it strips the personal data out of the rows it keeps)."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class TermsVersion(models.Model):
    """A version of the terms of service. The current one is the latest published at or before now."""

    id = models.BigAutoField(primary_key=True)
    version = models.CharField(max_length=50, unique=True, help_text="Shown to users, e.g. 2025-11-14.")
    published_at = models.DateTimeField(default=timezone.now, db_index=True,
                                        help_text="From this moment it is the current version; a future time schedules it.")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at", "-id"]

    def __str__(self):
        return self.version


class TermsAcceptance(models.Model):
    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="terms_acceptances",
                             db_index=False)
    version = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["user", "-accepted_at"], name="termsacc_user_at")]

    def __str__(self):
        return f"{self.user_id} accepted {self.version_id}"


class ConsentRecord(models.Model):
    """One cookie-consent decision, as the visitor made it."""

    id = models.BigAutoField(primary_key=True)
    anonymous_id = models.CharField(max_length=36, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="cookie_consents")
    policy_version = models.CharField(max_length=50)
    choices = models.JSONField(help_text="{necessary, functional, analytics, marketing}: true/false.")
    ip_truncated = models.GenericIPAddressField(null=True, blank=True, help_text="/24 of IPv4, /48 of IPv6.")
    user_agent = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "cookie consent record"

    def __str__(self):
        return f"{self.anonymous_id} v{self.policy_version}"


class AnalyticsEvent(models.Model):
    """A first-party analytics event, stored only for visitors who consented to analytics."""

    id = models.BigAutoField(primary_key=True)
    anonymous_id = models.CharField(max_length=36)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    name = models.CharField(max_length=64)
    path = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.name} {self.path}"


class MarketingConsent(models.Model):
    """A user's marketing consent as it stands now; how it got here is in MarketingConsentEvent."""

    class Status(models.TextChoices):
        PENDING = "pending_double_opt_in"
        GRANTED = "granted"
        REVOKED = "revoked"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="marketing_consent")
    status = models.CharField(max_length=32, choices=Status.choices)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_ip = models.GenericIPAddressField(null=True, blank=True)
    double_opt_in_at = models.DateTimeField(null=True, blank=True)
    double_opt_in_ip = models.GenericIPAddressField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.user_id}: {self.status}"


class MarketingConsentEvent(models.Model):
    """Append-only audit trail of every marketing-consent change."""

    class Action(models.TextChoices):
        REQUESTED = "requested"
        CONFIRMED = "confirmed"
        UNSUBSCRIBED = "unsubscribed"

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="marketing_events",
                             db_index=False)
    action = models.CharField(max_length=16, choices=Action.choices)
    source = models.CharField(max_length=32, help_text="settings, api, email_link, one_click, erasure ...")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="mktevent_user_at")]

    def __str__(self):
        return f"{self.user_id} {self.action} via {self.source}"


class MarketingOptInToken(models.Model):
    """A double opt-in confirmation token: only its SHA-256 is stored; single use, expires."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"opt-in token of {self.user_id}"


class AccountErasure(models.Model):
    """That an account was erased, and when: the proof, without the personal data."""

    id = models.BigAutoField(primary_key=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="erasure")
    by_self = models.BooleanField(default=True)
    at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.user_id} erased {self.at:%Y-%m-%d}"
