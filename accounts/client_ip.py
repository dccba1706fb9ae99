"""The address a request came from, for audit rows and a key's last_used_ip."""

import ipaddress


def client_ip(request) -> str | None:
    """The client's IP address, or None when the peer address is not one. One place to swap for a
    proxy-aware lookup (trusted proxies' X-Forwarded-For); until then the peer address, which a
    client cannot forge."""
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return None
