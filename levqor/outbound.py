"""Outbound HTTP safety: refuse private, loopback and link-local targets (SSRF guard)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class OutboundTargetRefused(Exception):
    """The URL points somewhere we do not call: a bad scheme or a non-public address."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def outbound_url_check(url: str, *, allow_private: bool | None = None) -> None:
    """Raise OutboundTargetRefused unless url is http(s) and every address it resolves to is public.

    Settings may allow private targets (OUTBOUND_ALLOW_PRIVATE: local development and tests).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundTargetRefused("Only http and https URLs with a host are allowed.")
    if allow_private is None:
        allow_private = settings.OUTBOUND_ALLOW_PRIVATE
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise OutboundTargetRefused(f"The host {parts.hostname!r} does not resolve.") from exc
    for info in infos:
        address = info[4][0].split("%", 1)[0]
        if not _is_public(address):
            raise OutboundTargetRefused(
                f"The host {parts.hostname!r} resolves to a private, loopback or link-local address."
            )
