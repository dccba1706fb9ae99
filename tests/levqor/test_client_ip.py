import pytest
from django.test import RequestFactory

from levqor.client_ip import client_ip


def _request(remote, xff=None):
    extra = {"REMOTE_ADDR": remote}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **extra)


@pytest.mark.parametrize("proxies, remote, xff, expected", [
    # No trusted proxies: the peer is the client, whatever the header says.
    ([], "203.0.113.9", "1.2.3.4", "203.0.113.9"),
    # A peer that is not ours cannot move itself with a header.
    (["10.0.0.0/8"], "203.0.113.9", "1.2.3.4, 10.0.0.5", "203.0.113.9"),
    # Our proxy: the right-most hop that is not ours; what the client wrote left of it is ignored.
    (["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 198.51.100.7", "198.51.100.7"),
    (["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),
    # Our proxy with no header (a health check from the proxy itself).
    (["10.0.0.0/8"], "10.0.0.2", None, "10.0.0.2"),
    # Garbage in the chain stops the walk at the last hop a proxy of ours vouched for.
    (["10.0.0.0/8"], "10.0.0.2", "198.51.100.7, not-an-ip", "10.0.0.2"),
    # Ports and IPv6 forms that proxies write.
    (["10.0.0.0/8"], "10.0.0.2", "198.51.100.7:4711", "198.51.100.7"),
    (["10.0.0.0/8", "fd00::/8"], "fd00::1", "[2001:db8::5]:443", "2001:db8::5"),
    (["10.0.0.0/8"], "::ffff:10.0.0.2", "198.51.100.7", "198.51.100.7"),
])
def test_client_ip(settings, proxies, remote, xff, expected):
    settings.TRUSTED_PROXIES = proxies
    assert client_ip(_request(remote, xff)) == expected


def test_a_mistyped_proxy_list_stops_the_service_at_start(settings):
    from levqor.checks import trusted_proxies_check

    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "10.0.0.300"]
    errors = trusted_proxies_check(None)
    assert [e.id for e in errors] == ["levqor.E002"] and "10.0.0.300" in errors[0].msg
