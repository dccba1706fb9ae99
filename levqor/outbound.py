"""Outbound HTTP safety: refuse private, loopback and link-local targets (SSRF guard)."""

import concurrent.futures
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core import signing


class OutboundTargetRefused(Exception):
    """The URL points somewhere we do not call: a bad scheme or a non-public address."""


class OutboundLookupFailed(OutboundTargetRefused):
    """The host's address could not be looked up (now, or in time): for a one-off call the same as a
    refusal, while a caller that retries (webhook deliveries) may treat it as a passing network error."""


# Lookups bounded by a deadline run here, so a slow resolver cannot hold a caller past it (the
# lookup itself cannot be interrupted: it finishes in the background, its answer unused).
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-dns")


def _lookup(host: str, port: int, timeout: float | None):
    if timeout is None:
        return socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    future = _resolver.submit(socket.getaddrinfo, host, port, proto=socket.IPPROTO_TCP)
    try:
        return future.result(timeout=max(timeout, 0.001))
    except concurrent.futures.TimeoutError as exc:
        raise OutboundLookupFailed(f"Looking up {host!r} took longer than {timeout:.1f} s.") from exc


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _public_address(host: str, port: int, *, timeout: float | None = None) -> str:
    """Resolve host once (within `timeout` seconds when given); the first address if every address it
    has is public, else refuse."""
    try:
        infos = _lookup(host, port, timeout)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundLookupFailed(f"The host {host!r} does not resolve.") from exc
    addresses = [info[4][0].split("%", 1)[0] for info in infos]
    if not addresses or not all(_is_public(address) for address in addresses):
        raise OutboundTargetRefused(f"The host {host!r} resolves to a private, loopback or link-local address.")
    return addresses[0]


def _allowed(allow_private: bool | None) -> bool:
    return settings.OUTBOUND_ALLOW_PRIVATE if allow_private is None else allow_private


# The one private target production may reach: the integrity check's own receiver on 127.0.0.1.
# Its URL carries a token signed with SECRET_KEY naming its port and expiry, so every process that
# delivers (a worker on this machine or another) can tell it from any other loopback URL without
# shared state; it opens nothing else, and only 127.0.0.1 URLs are ever looked at.
RECEIVER_HOST = "127.0.0.1"
_RECEIVER_SALT = "levqor.outbound.receiver"


def outbound_receiver_url(*, port: int, seconds: int) -> str:
    """The base URL (http://127.0.0.1:<port>/receiver/<token>) of a loopback receiver that outbound
    calls may reach for `seconds`: the integrity check's own."""
    token = signing.dumps({"port": port, "until": int(time.time()) + int(seconds)}, salt=_RECEIVER_SALT)
    return f"http://{RECEIVER_HOST}:{port}/receiver/{token}"


def outbound_receiver_allowed(url) -> bool:
    """Whether url is under a receiver URL made by outbound_receiver_url that has not expired."""
    try:
        parts = urlsplit(str(url))
        if parts.hostname != RECEIVER_HOST or parts.scheme != "http":
            return False
        segments = parts.path.split("/")
        if len(segments) < 3 or segments[1] != "receiver":
            return False
        grant = signing.loads(segments[2], salt=_RECEIVER_SALT)
        return grant["port"] == parts.port and grant["until"] >= time.time()
    except (signing.BadSignature, ValueError, KeyError, TypeError):
        return False


def outbound_url_check(url: str, *, allow_private: bool | None = None) -> None:
    """Raise OutboundTargetRefused unless url is http(s) and every address it resolves to is public.

    Settings may allow private targets (OUTBOUND_ALLOW_PRIVATE: local development and tests).
    A check alone does not stop DNS rebinding: make the call through OutboundTransport.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundTargetRefused("Only http and https URLs with a host are allowed.")
    if _allowed(allow_private) or outbound_receiver_allowed(url):
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


def outbound_request_pin(request: httpx.Request, *, allow_private: bool | None = None,
                         lookup_timeout: float | None = None) -> None:
    """Point `request` at the public address its host resolves to now (OutboundTargetRefused when it
    is not public, OutboundLookupFailed when it does not resolve within `lookup_timeout`), keeping the
    host name for the TLS server name: what a transport does just before it connects, so the address
    checked is the address used."""
    if _allowed(allow_private) or outbound_receiver_allowed(request.url):
        return
    url = request.url
    if url.scheme not in ("http", "https") or not url.host:
        raise OutboundTargetRefused("Only http and https URLs with a host are allowed.")
    address = _public_address(url.host, url.port or (443 if url.scheme == "https" else 80), timeout=lookup_timeout)
    request.url = url.copy_with(host=address)
    request.extensions = {**request.extensions, "sni_hostname": url.host}
