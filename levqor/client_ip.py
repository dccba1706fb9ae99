"""The client's IP address: the project's one way to get it (rate limits, logs, audit rows).

REMOTE_ADDR is the peer that opened the connection. Only when that peer is one of our own
proxies (TRUSTED_PROXIES) do we look at X-Forwarded-For, and then from the right: each proxy
appends the address it received the request from, so the right-most hop that is not one of
ours is the first address we did not add ourselves. Everything left of it was written by the
client and can say anything.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.signals import setting_changed

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1)
def trusted_proxies() -> tuple[Network, ...]:
    """TRUSTED_PROXIES parsed once per process (and again when a test overrides the setting)."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in settings.TRUSTED_PROXIES if cidr.strip())


def _clear(*, setting, **kwargs):
    if setting == "TRUSTED_PROXIES":
        trusted_proxies.cache_clear()


setting_changed.connect(_clear)


def _parse(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    # Some proxies write "[v6]:port" or "v4:port"; keep the address.
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; compare it as IPv4.
    return getattr(address, "ipv4_mapped", None) or address


def _is_trusted(address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_ip(request) -> str:
    """The address of the client: REMOTE_ADDR, or behind trusted proxies the right-most
    X-Forwarded-For hop that is not a trusted proxy. Worked out once per request."""
    cached = getattr(request, "_client_ip", None)
    if cached is not None:
        return cached
    remote = request.META.get("REMOTE_ADDR", "")
    ip = remote
    networks = trusted_proxies()
    peer = _parse(remote) if networks else None
    if peer is not None and _is_trusted(peer, networks):
        ip = str(peer)
        for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
            address = _parse(hop)
            if address is None:
                # A hop we cannot read was not written by a proxy of ours; stop at the last good one.
                break
            ip = str(address)
            if not _is_trusted(address, networks):
                break
    request._client_ip = ip
    return ip

