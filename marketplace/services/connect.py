"""Partners' Stripe Connect accounts: onboarding (an Express account and an Account Link), and
keeping payouts_enabled current from account.updated events or by asking Stripe.

Stripe is called outside any transaction (no row locked, nor SQLite's write lock held, while
Stripe answers); the account is created with an idempotency key per partner and mode, so a
retried click (or two at once) never makes two accounts."""

import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction

from levqor.errors import AppError, ErrorCode
from levqor.site import site_url
from marketplace.models import ConnectAccount
from marketplace.stripe_api import stripe_client, stripe_errors
from partners.models import Partner

logger = logging.getLogger("levqor.billing")

# Where Stripe sends the partner: back to /partners after onboarding (the return view asks Stripe
# for the account's state), or to /partners when the link expired (the button makes a new one).
RETURN_PATH = "/partners/payouts/return"
REFRESH_PATH = "/partners?payouts=refresh"


def _mode(livemode: bool) -> str:
    return "live" if livemode else "test"


def connect_account_idempotency_key(*, partner: Partner, livemode: bool) -> str:
    return f"levqor-connect-account-{partner.pk}-{_mode(livemode)}"


def connect_onboarding_link(*, partner: Partner, livemode: bool = True, actor) -> str:
    """The URL of a Stripe Account Link that onboards `partner` (or continues its onboarding).
    Only the owner of an approved partner; the partner's Express account (per mode) is created at
    the first call and reused after. 503 billing_not_configured without the mode's Stripe key."""
    if actor is None or partner.owner_id != getattr(actor, "pk", None):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only the partner's owner sets up its payouts.")
    if not partner.is_approved:
        raise AppError(ErrorCode.PARTNER_NOT_APPROVED, "Payouts are set up once the partner is approved.",
                       details={"status": partner.status})
    client = stripe_client(livemode=livemode)
    account = ConnectAccount.objects.filter(partner=partner, livemode=livemode).first()
    if account is None:
        account = _account_create(client, partner=partner, livemode=livemode)
    with stripe_errors():
        link = client.v1.account_links.create(params={
            "account": account.stripe_account_id, "type": "account_onboarding",
            "refresh_url": site_url(REFRESH_PATH), "return_url": site_url(RETURN_PATH)})
    return link.url


def _account_create(client, *, partner: Partner, livemode: bool) -> ConnectAccount:
    with stripe_errors():
        created = client.v1.accounts.create(
            params={"type": "express", "country": settings.CONNECT_ACCOUNT_COUNTRY, "email": partner.email,
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"partner_id": str(partner.pk), "levqor_mode": _mode(livemode)}},
            options={"idempotency_key": connect_account_idempotency_key(partner=partner, livemode=livemode)})
    try:
        with transaction.atomic():
            account, _ = ConnectAccount.objects.get_or_create(
                partner=partner, livemode=livemode, defaults=_fields(created.to_dict(), stripe_id=created.id))
    except IntegrityError:  # a click at the same moment stored it first (the same account: same key)
        account = ConnectAccount.objects.get(partner=partner, livemode=livemode)
    return account


def _fields(data: dict, *, stripe_id: str) -> dict:
    return {"stripe_account_id": stripe_id, "payouts_enabled": bool(data.get("payouts_enabled")),
            "charges_enabled": bool(data.get("charges_enabled")),
            "details_submitted": bool(data.get("details_submitted")),
            "requirements_due": list((data.get("requirements") or {}).get("currently_due") or [])}


def connect_account_apply(*, account_id: str, data: dict, created: int) -> tuple[bool, str]:
    """Apply Stripe's view of a connected account (an account.updated event's object, or the
    account retrieved) as of `created` (Unix seconds): (applied, note). Unknown account: not
    applied, with a note; older than what was applied last (ConnectAccount.event_created): stale,
    nothing changes. Runs in the caller's transaction; the row is locked."""
    with transaction.atomic():
        account = ConnectAccount.objects.select_for_update().filter(stripe_account_id=account_id).first()
        if account is None:
            return False, f"account {account_id} is not a partner's connected account of ours"
        if created < account.event_created:
            return True, (f"stale: older than the last applied state of {account_id} "
                          f"({created} < {account.event_created}); nothing changed")
        fields = _fields(data, stripe_id=account_id)
        fields.pop("stripe_account_id")
        for name, value in fields.items():
            setattr(account, name, value)
        account.event_created = created
        account.save(update_fields=[*fields, "event_created", "updated_at"])
    return True, ""


def connect_account_refresh(*, account: ConnectAccount) -> ConnectAccount:
    """Ask Stripe for the account's state now (the partner is back from onboarding) and apply it
    (an account.updated older than now, arriving later, changes nothing). Stripe's errors as
    AppError (503 unreachable, 502 refused)."""
    with stripe_errors():
        data = stripe_client(livemode=account.livemode).v1.accounts.retrieve(account.stripe_account_id).to_dict()
    connect_account_apply(account_id=account.stripe_account_id, data=data, created=int(time.time()))
    account.refresh_from_db()
    return account


def connect_status(account: ConnectAccount | None) -> str:
    """not_connected, onboarding (requirements due or payouts not enabled yet), or payouts_enabled."""
    if account is None:
        return "not_connected"
    return "payouts_enabled" if account.payouts_enabled else "onboarding"
