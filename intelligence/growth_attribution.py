"""Where a visitor came from: source / campaign / medium from a request, and the first touch
remembered for the visitor in a first-party cookie, only with their consent to analytics.

In order: the `utm_source` / `utm_campaign` / `utm_medium` query parameters; else `?ref=`
(medium "referral"); else the Referer's host when it is another site (medium "referral"); else
"direct". A Referer of our own pages is no source, but its own utm_ / ref parameters are (the
landing page's, carried to the next page). Values are trimmed, lower-cased and cut to the
columns' lengths (the same as accounts.Referral's)."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import DisallowedHost

from compliance.selectors import CookieConsent, analytics_consented, cookie_consent_from_request

DIRECT = "direct"
REFERRAL = "referral"
ATTRIBUTION_COOKIE = "levqor_first_touch"
_COOKIE_SALT = "intelligence.growth.first_touch"
SOURCE_MAX, CAMPAIGN_MAX, MEDIUM_MAX = 100, 200, 100
_VISITOR_ID = re.compile(r"[0-9a-fA-F-]{8,36}")


@dataclass(frozen=True)
class Attribution:
    source: str = DIRECT
    campaign: str = ""
    medium: str = ""

    @property
    def is_direct(self) -> bool:
        return self.source == DIRECT and not self.campaign and not self.medium


def _clean(value, limit: int) -> str:
    return str(value or "").strip().lower()[:limit]


def _from_params(params) -> Attribution | None:
    """From query parameters (a QueryDict or parse_qs's dict of lists)."""
    def first(name):
        value = params.get(name)
        return value[0] if isinstance(value, list) else value

    source = _clean(first("utm_source"), SOURCE_MAX)
    if source:
        return Attribution(source=source, campaign=_clean(first("utm_campaign"), CAMPAIGN_MAX),
                           medium=_clean(first("utm_medium"), MEDIUM_MAX))
    ref = _clean(first("ref"), SOURCE_MAX)
    if ref:
        return Attribution(source=ref, campaign=_clean(first("utm_campaign"), CAMPAIGN_MAX), medium=REFERRAL)
    return None


def _host(value: str) -> str:
    host = (value or "").strip().lower().rsplit("@", 1)[-1]
    host = host.split(":", 1)[0] if not host.startswith("[") else host.split("]", 1)[0] + "]"
    return host.removeprefix("www.")


def _own_hosts(request) -> set[str]:
    try:
        requested = request.get_host()
    except DisallowedHost:
        requested = ""
    return {_host(requested), _host(urlsplit(settings.SITE_URL).netloc)} - {""}


def attribution_from_request(request) -> Attribution | None:
    """This request's own attribution, or None when it carries none (then it is "direct", unless
    the visitor's first touch says otherwise)."""
    found = _from_params(request.GET)
    if found is not None:
        return found
    referer = request.META.get("HTTP_REFERER", "")
    if not referer:
        return None
    try:
        parts = urlsplit(referer)
    except ValueError:
        return None
    host = _host(parts.netloc)
    if not host:
        return None
    if host in _own_hosts(request):
        return _from_params(parse_qs(parts.query))
    return Attribution(source=_clean(host, SOURCE_MAX), medium=REFERRAL)


def first_touch_from_cookie(request) -> Attribution | None:
    """The first touch remembered in the visitor's cookie (signed), or None."""
    raw = request.COOKIES.get(ATTRIBUTION_COOKIE)
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=_COOKIE_SALT)
        return Attribution(source=_clean(data["s"], SOURCE_MAX) or DIRECT, campaign=_clean(data.get("c"), CAMPAIGN_MAX),
                           medium=_clean(data.get("m"), MEDIUM_MAX))
    except (signing.BadSignature, KeyError, TypeError, AttributeError):
        return None


def first_touch_cookie_value(attribution: Attribution) -> str:
    return signing.dumps({"s": attribution.source, "c": attribution.campaign, "m": attribution.medium},
                         salt=_COOKIE_SALT, compress=True)


@dataclass(frozen=True)
class Touch:
    """A consenting visitor as this request shows them: their anonymous id, their first touch
    (remembered, or this request's when none is yet), this request's own attribution (or None),
    and whether the first touch is still to be remembered in the cookie."""

    visitor: str
    first: Attribution
    this: Attribution | None
    remember: bool


def touch_from_request(request, consent: CookieConsent | None = None) -> Touch | None:
    """The visitor's touch, or None without their consent to analytics (nothing is read then), or
    when the consent cookie's visitor id is not one we could have given (ours are UUIDs)."""
    consent = consent if consent is not None else cookie_consent_from_request(request)
    if not analytics_consented(consent) or not _VISITOR_ID.fullmatch(consent.anonymous_id):
        return None
    this = attribution_from_request(request)
    remembered = first_touch_from_cookie(request)
    return Touch(visitor=consent.anonymous_id, first=remembered or this or Attribution(), this=this,
                 remember=remembered is None)
