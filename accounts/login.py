"""Sign-in by email link: request a one-time link, and redeem it.

Anyone may ask for a link for any address; the answer never says whether the address has an
account. Sign-up is by link too: the user row is created only when a link is redeemed, that is
once the person has shown they read that mailbox, so asking for links creates nothing but the
(hashed) token. A link is bound to its address, works once, and expires after
LOGIN_LINK_MAX_AGE_SECONDS.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import LoginToken, User, email_normalise
from accounts.services.users import user_get_or_create
from levqor.counters import Counter, count_hits, last_to_reset
from levqor.redirects import DEFAULT_RETURN_TO, safe_return_to
from levqor.site import site_url
from levqor.tokens import secret_digest

logger = logging.getLogger("levqor.accounts")


class LoginLinkNotSent(Exception):
    """The email backend failed: no link went out (the token row stays unused and expires)."""


class LoginRateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"Too many sign-in links asked for; try again in {retry_after} seconds.")
        self.retry_after = retry_after


def login_link_request(*, email: str, ip: str | None, return_to: str) -> None:
    """Send a one-time sign-in link to this address (whether or not it has an account yet).
    Raises LoginRateLimited when the address or the IP asked for too many links this window, and
    LoginLinkNotSent when the email backend fails (the person must know no link is coming)."""
    address = email_normalise(email)
    limit, window = settings.LOGIN_LINK_RATE_LIMIT, settings.LOGIN_LINK_RATE_WINDOW_SECONDS
    # Both counters move on every request, so hammering one address from many IPs, or many
    # addresses from one IP, is stopped either way. The address is counted by its digest.
    counters = [Counter("login-link-email", secret_digest(address), limit, window)]
    if ip is not None:
        counters.append(Counter("login-link-ip", ip, limit, window))
    refused = last_to_reset(count_hits(counters))
    if refused is not None:
        raise LoginRateLimited(refused.retry_after)
    user = User.objects.filter(email__iexact=address).only("is_active").first()
    if user is not None and not user.is_active:
        return  # a disabled account gets no link; the page answers the same
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    LoginToken.objects.create(email=address, token_hash=secret_digest(token), return_to=safe_return_to(return_to),
                              requested_ip=ip, created_at=now,
                              expires_at=now + timedelta(seconds=settings.LOGIN_LINK_MAX_AGE_SECONDS))
    link = site_url(f"/login/confirm?token={token}")
    minutes = settings.LOGIN_LINK_MAX_AGE_SECONDS // 60
    context = {"link": link, "minutes": minutes, "email": address}
    message = EmailMultiAlternatives(
        subject="Your Levqor sign-in link",
        body=render_to_string("accounts/email/login_link.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL, to=[address],
    )
    message.attach_alternative(render_to_string("accounts/email/login_link.html", context), "text/html")
    try:
        message.send()
    except Exception as exc:  # any backend (SMTP, Resend, files) may fail its own way
        logger.warning("sign-in link not sent: %s: %s", type(exc).__name__, exc)
        raise LoginLinkNotSent(str(exc)) from exc


def login_token_peek(token: str) -> LoginToken | None:
    """The unused, unexpired link for this token (nothing is consumed: the confirm page's GET)."""
    if not token or len(token) > 200:
        return None
    return LoginToken.objects.filter(token_hash=secret_digest(token), used_at__isnull=True,
                                     expires_at__gt=timezone.now()).first()


@dataclass(frozen=True)
class Redeemed:
    user: User
    return_to: str


def login_token_redeem(*, token: str) -> Redeemed | None:
    """Use the link once: mark it used (one conditional UPDATE, so two clicks at once give one
    sign-in) and return the user of its address, created on a first sign-in. None when the
    link is unknown, used, expired, or its account is disabled."""
    found = login_token_peek(token)
    if found is None:
        return None
    with transaction.atomic():
        if not LoginToken.objects.filter(pk=found.pk, used_at__isnull=True,
                                         expires_at__gt=timezone.now()).update(used_at=timezone.now()):
            return None
        user, _ = user_get_or_create(email=found.email)
    if not user.is_active:
        return None
    return Redeemed(user=user, return_to=found.return_to or DEFAULT_RETURN_TO)


def login_token_purge(*, before=None) -> int:
    """Delete links that expired (they are useless); returns how many."""
    deleted, _ = LoginToken.objects.filter(expires_at__lt=before or timezone.now()).delete()
    return deleted
