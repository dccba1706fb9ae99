"""Outbound HTTP safety: refuse private, loopback and link-local targets (SSRF guard)."""

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings


class OutboundTargetRefused(Exception):
    """The URL points somewhere we do not call: a bad scheme or a non-public address."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _public_address(host: str, port: int) -> str:
    """Resolve host once; the first address if every address it has is public, else refuse."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundTargetRefused(f"The host {host!r} does not resolve.") from exc
    addresses = [info[4][0].split("%", 1)[0] for info in infos]
    if not addresses or not all(_is_public(address) for address in addresses):
        raise OutboundTargetRefused(f"The host {host!r} resolves to a private, loopback or link-local address.")
    return addresses[0]


def _allowed(allow_private: bool | None) -> bool:
    return settings.OUTBOUND_ALLOW_PRIVATE if allow_private is None else allow_private


def outbound_url_check(url: str, *, allow_private: bool | None = None) -> None:
    """Raise OutboundTargetRefused unless url is http(s) and every address it resolves to is public.

    Settings may allow private targets (OUTBOUND_ALLOW_PRIVATE: local development and tests).
    A check alone does not stop DNS rebinding: make the call through OutboundTransport.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundTargetRefused("Only http and https URLs with a host are allowed.")
    if _allowed(allow_private):
        return
    try:
        port = parts.port
    except ValueError as exc:
        raise OutboundTargetRefused("The URL's port is not valid.") from exc
    _public_address(parts.hostname, port or (443 if parts.scheme == "https" else 80))


class OutboundTransport(httpx.HTTPTransport):
    """An httpx transport that connects only to the public address it has just checked.

    Checking a URL and then letting the HTTP client resolve the name again leaves a gap: DNS
    may answer a public address to the check and 127.0.0.1 to the connect. Here the name is
    resolved once, per request (redirects included), and the connection goes to that address;
    the Host header and the TLS server name (SNI, certificate check) stay the original host.
    """

    def __init__(self, *, allow_private: bool | None = None, **kwargs):
        super().__init__(**kwargs)
        self._allow_private = allow_private

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        outbound_request_pin(request, allow_private=self._allow_private)
        return super().handle_request(request)


def outbound_request_pin(request: httpx.Request, *, allow_private: bool | None = None) -> None:
    """Point `request` at the public address its host resolves to now (OutboundTargetRefused when it
    is not public), keeping the host name for the TLS server name: what a transport does just before
    it connects, so the address checked is the address used."""
    if _allowed(allow_private):
        return
    url = request.url
    if url.scheme not in ("http", "https") or not url.host:
        raise OutboundTargetRefused("Only http and https URLs with a host are allowed.")
    address = _public_address(url.host, url.port or (443 if url.scheme == "https" else 80))
    request.url = url.copy_with(host=address)
    request.extensions = {**request.extensions, "sni_hostname": url.host}
