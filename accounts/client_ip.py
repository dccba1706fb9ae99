"""The address a request came from, for audit rows and a key's last_used_ip."""


def client_ip(request) -> str | None:
    """The client's IP address. One place to swap for a proxy-aware lookup (trusted proxies'
    X-Forwarded-For) once the project has one; until then the peer address, which a client cannot forge."""
    return request.META.get("REMOTE_ADDR") or None
