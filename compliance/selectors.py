"""Reads of terms, consents and marketing state that more than one caller needs."""

import json
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from compliance.models import ConsentRecord, MarketingConsent, MarketingConsentEvent, TermsAcceptance, TermsVersion

TERMS_CACHE_KEY = "compliance:terms:current"
TERMS_CACHE_SECONDS = 30
CONSENT_COOKIE = "levqor_consent"
COOKIE_CATEGORIES = ("functional", "analytics", "marketing")


@dataclass(frozen=True)
class CurrentTerms:
    id: int
    version: str


def terms_current(*, now: datetime | None = None) -> CurrentTerms | None:
    """The version in force (latest published at or before now), or None when none is published.
    Cached briefly; the cache entry also knows when the next scheduled version takes over, and
    publishing through the ORM drops it (compliance.signals)."""
    now = now or timezone.now()
    cached = cache.get(TERMS_CACHE_KEY)
    if cached is not None and (cached["next_at"] is None or cached["next_at"] > now):
        return CurrentTerms(**cached["current"]) if cached["current"] else None
    row = TermsVersion.objects.filter(published_at__lte=now).order_by("-published_at", "-id") \
        .values("id", "version").first()
    next_at = TermsVersion.objects.filter(published_at__gt=now).order_by("published_at") \
        .values_list("published_at", flat=True).first()
    cache.set(TERMS_CACHE_KEY, {"current": row, "next_at": next_at}, TERMS_CACHE_SECONDS)
    return CurrentTerms(**row) if row else None


def terms_version_get(*, version_id: int) -> TermsVersion | None:
    return TermsVersion.objects.filter(pk=version_id).first()


def terms_accepted(*, user, version_id: int) -> bool:
    return TermsAcceptance.objects.filter(user=user, version_id=version_id).exists()


def terms_latest_acceptance(*, user) -> TermsAcceptance | None:
    return TermsAcceptance.objects.filter(user=user).select_related("version").order_by("-accepted_at", "-id").first()


def marketing_consent_get(*, user) -> MarketingConsent | None:
    return MarketingConsent.objects.filter(user=user).first()


def user_compliance_fields(user) -> dict:
    """The old service's compliance fields of a user (accounts.profile provider): two queries."""
    acceptance = terms_latest_acceptance(user=user)
    consent = marketing_consent_get(user=user)
    granted = consent is not None and consent.status != MarketingConsent.Status.REVOKED
    return {
        "terms_accepted_at": acceptance.accepted_at if acceptance else None,
        "terms_version": acceptance.version.version if acceptance else None,
        "terms_accepted_ip": acceptance.ip if acceptance else None,
        "marketing_consent": granted,
        "marketing_consent_at": consent.consent_at if granted else None,
        "marketing_consent_ip": consent.consent_ip if granted else None,
        "marketing_double_opt_in": granted and consent.status == MarketingConsent.Status.GRANTED,
        "marketing_double_opt_in_at": consent.double_opt_in_at
        if granted and consent.status == MarketingConsent.Status.GRANTED else None,
    }


@dataclass(frozen=True)
class CookieConsent:
    """The visitor's choice as their levqor_consent cookie holds it."""

    anonymous_id: str
    policy_version: str
    choices: dict

    @property
    def current(self) -> bool:
        return self.policy_version == settings.COOKIE_POLICY_VERSION

    def allows(self, category: str) -> bool:
        return self.current and bool(self.choices.get(category))


def analytics_consented(consent: CookieConsent | None) -> bool:
    """Whether analytics may be recorded for this visitor: only with their current consent to
    analytics (no cookie, an unreadable one or an older policy's: no). The one check of every
    analytics write (compliance's events, intelligence's growth visits)."""
    return consent is not None and consent.allows("analytics")


def cookie_consent_from_request(request) -> CookieConsent | None:
    """The consent cookie, parsed; None when absent or unreadable (then nothing is consented)."""
    raw = request.COOKIES.get(CONSENT_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(unquote(raw))
        choices = {name: bool(data["c"].get(name)) for name in COOKIE_CATEGORIES}
        return CookieConsent(anonymous_id=str(data["id"])[:36], policy_version=str(data["v"]),
                             choices={"necessary": True, **choices})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def user_consent_records(*, user):
    return ConsentRecord.objects.filter(user=user).order_by("at", "id")


def user_marketing_events(*, user):
    return MarketingConsentEvent.objects.filter(user=user).order_by("at", "id")
