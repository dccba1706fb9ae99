"""Writes of the compliance app: terms acceptance, the cookie-consent log, marketing double
opt-in / unsubscribe (with their audit trail and emails), and the erasure of all that (account
erasure walks accounts' personal data registry, so it covers every app without knowing them)."""

import ipaddress
import secrets
import uuid
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.personal_data import Erasure, personal_data_erase
from compliance.models import (
    AccountErasure,
    AnalyticsEvent,
    ConsentRecord,
    MarketingConsent,
    MarketingConsentEvent,
    MarketingOptInToken,
    TermsAcceptance,
    TermsVersion,
)
from compliance.selectors import COOKIE_CATEGORIES, CookieConsent, analytics_consented, terms_current
from levqor.site import site_url
from levqor.tokens import secret_digest

OPT_IN_TOKEN_TTL = timedelta(days=7)
UNSUBSCRIBE_SALT = "compliance.marketing.unsubscribe"
USER_AGENT_MAX = 500


def _ua(user_agent: str | None) -> str:
    return (user_agent or "")[:USER_AGENT_MAX]


# --- terms ------------------------------------------------------------------------------------

class NoTermsPublished(Exception):
    """There is no published terms version to accept."""


def terms_accept(*, user: User, version: TermsVersion | None = None, ip: str | None, user_agent: str = "") \
        -> TermsAcceptance:
    """Record that the user accepted a terms version (default: the current one), from where and
    with what browser. Every acceptance is a new row. Raises NoTermsPublished when there is none."""
    if version is None:
        current = terms_current()
        if current is None:
            raise NoTermsPublished()
        version = TermsVersion.objects.get(pk=current.id)
    return TermsAcceptance.objects.create(user=user, version=version, ip=ip or None, user_agent=_ua(user_agent))


# --- cookie consent ---------------------------------------------------------------------------

def ip_truncate(ip: str | None) -> str | None:
    """The network, not the person: the /24 of an IPv4 address, the /48 of an IPv6 one."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def cookie_consent_record(*, anonymous_id: str | None, user: User | None, choices: dict, ip: str | None,
                          user_agent: str = "") -> ConsentRecord:
    """Append a cookie-consent decision to the log (necessary is always on) and return it; a
    visitor without an anonymous id gets a new one."""
    clean = {"necessary": True, **{name: bool(choices.get(name)) for name in COOKIE_CATEGORIES}}
    return ConsentRecord.objects.create(
        anonymous_id=anonymous_id or str(uuid.uuid4()), user=user if user and user.is_authenticated else None,
        policy_version=settings.COOKIE_POLICY_VERSION, choices=clean, ip_truncated=ip_truncate(ip),
        user_agent=_ua(user_agent))


def analytics_event_record(*, consent: CookieConsent | None, user: User | None, name: str, path: str = "") \
        -> AnalyticsEvent | None:
    """Store an analytics event only when the visitor's current consent allows analytics; else
    nothing is stored and None is returned."""
    if not analytics_consented(consent):
        return None
    return AnalyticsEvent.objects.create(anonymous_id=consent.anonymous_id,
                                         user=user if user and user.is_authenticated else None,
                                         name=name[:64], path=path[:500])


# --- marketing --------------------------------------------------------------------------------

def _marketing_event(user: User, action: str, *, source: str, ip: str | None, user_agent: str) -> None:
    MarketingConsentEvent.objects.create(user=user, action=action, source=source, ip=ip or None,
                                         user_agent=_ua(user_agent))


def marketing_opt_in_request(*, user: User, source: str, ip: str | None, user_agent: str = "") -> MarketingConsent:
    """Start the double opt-in: record the request, make a single-use token (stored hashed, valid
    7 days) and email the confirmation link once the transaction commits. A user already
    confirmed stays as they are (no new email)."""
    now = timezone.now()
    with transaction.atomic():
        consent, _ = MarketingConsent.objects.select_for_update().get_or_create(
            user=user, defaults={"status": MarketingConsent.Status.PENDING})
        if consent.status == MarketingConsent.Status.GRANTED:
            return consent
        consent.status = MarketingConsent.Status.PENDING
        consent.consent_at, consent.consent_ip = now, ip or None
        consent.double_opt_in_at = consent.double_opt_in_ip = None
        consent.updated_at = now
        consent.save()
        _marketing_event(user, MarketingConsentEvent.Action.REQUESTED, source=source, ip=ip, user_agent=user_agent)
        raw = secrets.token_urlsafe(32)
        MarketingOptInToken.objects.create(user=user, token_hash=secret_digest(raw), created_at=now,
                                           expires_at=now + OPT_IN_TOKEN_TTL)
        link = site_url(f"/marketing/confirm?{urlencode({'token': raw})}")
        email = user.email
        transaction.on_commit(lambda: _opt_in_email_send(email, link))
    return consent


def _opt_in_email_send(email: str, link: str) -> None:
    EmailMessage(
        subject="Confirm your Levqor marketing emails",
        body=("You asked to receive news and offers from Levqor by email.\n\n"
              f"Confirm here (the link works once, for 7 days):\n{link}\n\n"
              "If it was not you, ignore this email: nothing will be sent to you."),
        to=[email]).send()


class OptInTokenInvalid(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason  # unknown | used | expired


def marketing_opt_in_confirm(*, raw_token: str, source: str, ip: str | None, user_agent: str = "") \
        -> MarketingConsent:
    """Confirm a double opt-in with its emailed token: the token is used up (atomically, so two
    clicks confirm once), the time and address recorded. Raises OptInTokenInvalid."""
    now = timezone.now()
    with transaction.atomic():
        token = MarketingOptInToken.objects.select_for_update().filter(token_hash=secret_digest(raw_token or "")).first()
        if token is None:
            raise OptInTokenInvalid("unknown")
        if token.used_at is not None:
            raise OptInTokenInvalid("used")
        if token.expires_at <= now:
            raise OptInTokenInvalid("expired")
        token.used_at = now
        token.save(update_fields=["used_at"])
        consent = MarketingConsent.objects.select_for_update().get(user_id=token.user_id)
        consent.status = MarketingConsent.Status.GRANTED
        consent.double_opt_in_at, consent.double_opt_in_ip = now, ip or None
        consent.updated_at = now
        consent.save()
        _marketing_event(consent.user, MarketingConsentEvent.Action.CONFIRMED, source=source, ip=ip,
                         user_agent=user_agent)
    return consent


def marketing_unsubscribe(*, user: User, source: str, ip: str | None, user_agent: str = "") -> MarketingConsent | None:
    """Withdraw marketing consent at once; outstanding confirmation links stop working too.
    Unsubscribing someone who is not subscribed changes nothing and logs nothing."""
    now = timezone.now()
    with transaction.atomic():
        consent = MarketingConsent.objects.select_for_update().filter(user=user).first()
        MarketingOptInToken.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
        if consent is None or consent.status == MarketingConsent.Status.REVOKED:
            return consent
        consent.status = MarketingConsent.Status.REVOKED
        consent.updated_at = now
        consent.save()
        _marketing_event(user, MarketingConsentEvent.Action.UNSUBSCRIBED, source=source, ip=ip, user_agent=user_agent)
    return consent


def unsubscribe_token_make(user: User) -> str:
    """A signed token naming the user, for unsubscribe links: it never expires (an old email's
    link must still work) and needs no sign-in."""
    return signing.dumps(str(user.pk), salt=UNSUBSCRIBE_SALT)


def unsubscribe_token_user(token: str) -> User | None:
    try:
        user_id = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return User.objects.filter(pk=user_id).first()


def marketing_email_send(*, user: User, subject: str, body: str) -> bool:
    """Send a marketing email, only to a user with a confirmed double opt-in. It carries an
    unsubscribe link that works without signing in, and the RFC 8058 one-click headers. Returns
    whether it was sent."""
    consent = MarketingConsent.objects.filter(user=user).first()
    if consent is None or consent.status != MarketingConsent.Status.GRANTED:
        return False
    link = site_url(f"/marketing/unsubscribe/{unsubscribe_token_make(user)}")
    message = EmailMessage(
        subject=subject, body=f"{body}\n\n--\nYou get this because you asked for Levqor news. Unsubscribe: {link}\n",
        to=[user.email],
        headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"})
    message.send()
    return True


# --- erasure ----------------------------------------------------------------------------------
# compliance's sections of the personal data registry (accounts.personal_data, joined in
# compliance.personal_data): the rows stay, as proof of what was consented when, naming nobody.

def terms_personal_data_erase(*, user: User, erasure: Erasure) -> None:
    """The acceptances lose the address and browser they were given from."""
    TermsAcceptance.objects.filter(user=user).update(ip=None, user_agent="")


def cookie_consent_personal_data_erase(*, user: User, erasure: Erasure) -> None:
    """The consent log loses the network and browser; analytics events stop naming the user."""
    ConsentRecord.objects.filter(user=user).update(ip_truncated=None, user_agent="")
    AnalyticsEvent.objects.filter(user=user).update(user=None)


def marketing_personal_data_erase(*, user: User, erasure: Erasure) -> None:
    """Marketing consent withdrawn (logged as by erasure, from no address), the trail and the
    consent without addresses or browsers, the confirmation links gone."""
    marketing_unsubscribe(user=user, source="erasure", ip=None)
    MarketingConsentEvent.objects.filter(user=user).update(ip=None, user_agent="")
    MarketingConsent.objects.filter(user=user).update(consent_ip=None, double_opt_in_ip=None)
    MarketingOptInToken.objects.filter(user=user).delete()


def account_erase(*, user: User, actor: User | None, ip: str | None) -> User:
    """Erase an account (GDPR art. 17), in one transaction: every app's personal data removed or
    anonymised through the registry (accounts.personal_data: the user anonymised, keys revoked
    and sessions ended; jobs kept for accounting without payloads, results or callback URLs;
    marketing consent withdrawn and the addresses and browsers in our own logs dropped), and
    the erasure recorded. The actor's address is kept on the key audit only when staff erase
    someone else. Returns the anonymised user."""
    with transaction.atomic():
        erasure = personal_data_erase(user=user, actor=actor, ip=ip)
        AccountErasure.objects.get_or_create(user=user, defaults={"by_self": erasure.by_self})
    return User.objects.get(pk=user.pk)
