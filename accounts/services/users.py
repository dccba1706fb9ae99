"""Writes on users and referrals."""

import uuid

from django.db import IntegrityError, transaction

from accounts.models import ApiKey, Referral, User, email_normalise
from accounts.services.keys import CreatedApiKey, api_key_create, api_key_revoke
from levqor.webhooks.endpoints import webhook_owner_data_erase


def user_get_or_create(*, email: str, name: str = "") -> tuple[User, bool]:
    """The user with this email (compared stripped and lower-cased), created if new."""
    normalised = email_normalise(email)
    user = User.objects.filter(email__iexact=normalised).first()
    if user:
        return user, False
    try:
        with transaction.atomic():
            return User.objects.create_user(normalised, name=name), True
    except IntegrityError:
        # Someone created the same user between our read and our insert: theirs is ours.
        user = User.objects.filter(email__iexact=normalised).first()
        if user is None:
            raise
        return user, False


# Profile fields a client may set on a user (upsert and PATCH); everything else is ours.
USER_PROFILE_FIELDS = ("name", "locale", "currency", "meta")


def user_update(*, user: User, changes: dict) -> User:
    """Apply profile changes: absent fields are kept and `meta` is merged key by key (shallow),
    as the old service did. The row is locked while merging, so two concurrent updates of
    different meta keys both survive."""
    unknown = set(changes) - set(USER_PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"not profile fields: {sorted(unknown)}")
    if not changes:
        return user
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        for name, value in changes.items():
            if name == "meta":
                value = {**(locked.meta or {}), **value}
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
    return locked


def user_upsert(*, email: str, changes: dict) -> tuple[User, bool]:
    """The user with this email (stripped, lower-cased) created with `changes`, or updated by
    them when it exists (see user_update). Two concurrent upserts of one email give one user."""
    user, created = user_get_or_create(email=email, name=changes.get("name", ""))
    rest = {k: v for k, v in changes.items() if not (created and k == "name")}
    return user_update(user=user, changes=rest), created


def referral_track(*, email: str, source: str = "direct", campaign: str = "", medium: str = "") -> Referral:
    """Record a referral; it is linked to the user when one has this email already."""
    normalised = email_normalise(email)
    user = User.objects.filter(email__iexact=normalised).only("pk").first()
    return Referral.objects.create(email=normalised, user=user, source=source or "direct", campaign=campaign,
                                   medium=medium)


def demo_user_ensure(*, email: str) -> CreatedApiKey | None:
    """On a first embedded run: a demo user with a test key. None when the user already exists."""
    user, created = user_get_or_create(email=email, name="Demo user")
    if not created:
        return None
    return api_key_create(owner=user, name="demo", livemode=False)


def user_anonymise(*, user: User, actor: User | None = None, ip: str | None = None) -> User:
    """Erase a user's personal data but keep the row (jobs and audit rows point at it): the email
    becomes deleted-<uuid>@invalid, name and meta are cleared, the password made unusable (which
    also ends every session of theirs) and the account deactivated; their usable API keys are
    revoked and their referrals lose the address. Idempotent."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.email = f"deleted-{uuid.uuid4()}@invalid"
        locked.name = ""
        locked.meta = {}
        locked.is_active = False
        locked.set_unusable_password()
        locked.save(update_fields=["email", "name", "meta", "is_active", "password", "updated_at"])
        # Webhook endpoints and deliveries (URLs, bodies) go, and with them the signing secret.
        webhook_owner_data_erase(owner=locked)
        Referral.objects.filter(user=locked).update(email=locked.email)
        for api_key in ApiKey.objects.filter(owner=locked, revoked_at__isnull=True):
            api_key_revoke(api_key=api_key, actor=actor, ip=ip, details={"via": "account_erasure"})
    return locked
