"""The address a request came from, as stored in audit rows and a key's last_used_ip."""

import ipaddress

from levqor.client_ip import client_ip as request_address


def client_ip(request) -> str | None:
    """The client's address (levqor.client_ip: REMOTE_ADDR, or behind trusted proxies their
    X-Forwarded-For) as an IP an IP column can store, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(request_address(request)))
    except ValueError:
        return None
