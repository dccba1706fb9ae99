import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

# What an API key may do. A key holds a subset; a request outside it gets 403 insufficient_scope.
SCOPES = ("jobs:read", "jobs:write", "users:read", "users:write", "webhooks:read", "webhooks:write",
          "partners:read", "partners:write", "billing:write", "marketplace:read", "marketplace:write", "admin:read")
# New keys, and the keys that existed before scopes: everything a customer's own key needs.
DEFAULT_SCOPES = ("jobs:read", "jobs:write", "users:read", "users:write", "webhooks:read", "webhooks:write",
                  "partners:read", "partners:write", "billing:write", "marketplace:read", "marketplace:write")
# The operators' scope: only a staff member may hold a key with it (accounts.services.keys), and such
# a key acts as an operator only while its owner is staff (accounts.permissions.request_is_operator).
OPERATOR_SCOPE = "admin:read"
# (Keys holding every customer scope from before webhooks and partners had theirs were widened by
# migration 0006; those holding every one of them got billing:write by migration 0009, and the
# marketplace's scopes (buying listings, reading one's orders) by migration 0010.)


def default_scopes() -> list[str]:
    return list(DEFAULT_SCOPES)


def email_normalise(email: str) -> str:
    """Emails are compared stripped and lower-cased, as the old service did."""
    return (email or "").strip().lower()


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, username):
        return self.get(email__iexact=email_normalise(username))

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("Users need an email address.")
        user = self.model(email=email_normalise(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    class Currency(models.TextChoices):
        GBP = "GBP", "GBP (£)"
        USD = "USD", "USD ($)"
        EUR = "EUR", "EUR (€)"

    class Tier(models.TextChoices):
        SANDBOX = "sandbox"
        PRO = "pro"
        ENTERPRISE = "enterprise"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=200, blank=True, default="")
    locale = models.CharField(max_length=16, default="en-GB")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.GBP)
    meta = models.JSONField(default=dict, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.SANDBOX)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = email_normalise(self.email)


class ApiKey(models.Model):
    """An API key. Only its SHA-256 and a display prefix are stored; the raw key is shown once."""

    LIVE_PREFIX = "lvk_live_"
    TEST_PREFIX = "lvk_test_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=20, help_text="The first characters of the key, to recognise it.")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    livemode = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    scopes = models.JSONField(default=default_scopes, blank=True)
    # The key this one replaced by rotation (that one keeps working until its grace period ends).
    rotated_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="rotated_to")
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        indexes = [models.Index(fields=["owner", "-created_at"], name="apikey_owner_created")]

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class ApiKeyEvent(models.Model):
    """Audit trail of a key's life: who created, rotated or revoked it, when and from where."""

    class Action(models.TextChoices):
        CREATED = "created"
        ROTATED = "rotated"
        REVOKED = "revoked"

    id = models.BigAutoField(primary_key=True)
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="events")
    key_prefix = models.CharField(max_length=20)  # kept if the key row ever goes
    action = models.CharField(max_length=16, choices=Action.choices)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "API key event"
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.key_prefix}… {self.action}"


class Referral(models.Model):
    """A tracked referral (old POST /api/v1/referrals/track): who, from which source and campaign."""

    id = models.BigAutoField(primary_key=True)
    email = models.EmailField(max_length=254)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals")
    source = models.CharField(max_length=100, default="direct")
    campaign = models.CharField(max_length=200, blank=True, default="")
    medium = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["source", "created_at"], name="referral_source_created")]

    def __str__(self):
        return f"{self.email} via {self.source}"


class ApiUsage(models.Model):
    """API calls an owner made in a calendar month (UTC). The live count is an atomic counter in
    the shared cache; this row is its durable copy, written at most once a minute per owner, so
    a restart of the cache does not forget the month's usage (the counter is re-seeded from it)."""

    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_usage")
    month = models.DateField(help_text="The first day of the month (UTC).")
    calls = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = "API usage"
        verbose_name_plural = "API usage"
        constraints = [models.UniqueConstraint(fields=["owner", "month"], name="apiusage_owner_month_unique")]

    def __str__(self):
        return f"{self.owner_id} {self.month:%Y-%m}: {self.calls}"


class LoginToken(models.Model):
    """A one-time sign-in link sent by email. Only the token's SHA-256 is stored; the link is
    bound to the address it was sent to, expires and works once."""

    id = models.BigAutoField(primary_key=True)
    email = models.EmailField(max_length=254)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    return_to = models.CharField(max_length=512, blank=True, default="")
    requested_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="logintoken_expires")]

    def __str__(self):
        return f"sign-in link for {self.email}"


class TierChange(models.Model):
    """Audit of a user's tier moving (billing, an operator, a lapsed payment): from, to, why, by what."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tier_changes")
    old_tier = models.CharField(max_length=16)
    new_tier = models.CharField(max_length=16)
    reason = models.CharField(max_length=255)
    source = models.CharField(max_length=64, help_text="What moved it: e.g. stripe:evt_123, admin, grace_expired.")
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.user_id}: {self.old_tier} -> {self.new_tier}"
