"""The site's own address, for links that leave it (emails): one base URL, SITE_URL, for sign-in
links, marketing confirmations and unsubscribe links alike, whatever host a request came on
(cookies are per host, so a link must open on the host people use)."""

from django.conf import settings


def site_url(path: str) -> str:
    """An absolute URL of this site for `path` (which starts with "/")."""
    return f"{settings.SITE_URL}{path}"
