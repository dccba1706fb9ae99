import pytest
from django.test import Client, RequestFactory

from accounts.models import ApiKey
from levqor.client_ip import client_ip
from tests.api_asserts import assert_api_error
from tests.factories import api_key_for


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
    # Always a valid address in its canonical text, or None when the request carries none.
    ([], "2001:DB8:0:0::5", None, "2001:db8::5"),
    ([], "", None, None),
    ([], "unix:/run/gunicorn.sock", "198.51.100.7", None),
    (["10.0.0.0/8"], "not-an-ip", "198.51.100.7", None),
])
def test_client_ip(settings, proxies, remote, xff, expected):
    settings.TRUSTED_PROXIES = proxies
    assert client_ip(_request(remote, xff)) == expected


@pytest.mark.django_db
def test_requests_without_a_readable_address_share_one_rate_limit_bucket_and_store_no_ip(settings):
    settings.RATELIMIT_WRITES_PER_IP = 1
    client = Client()
    assert client.post("/api/v1/jobs", data="{}", content_type="application/json", REMOTE_ADDR="").status_code == 401
    assert_api_error(client.post("/api/v1/jobs", data="{}", content_type="application/json",
                                 REMOTE_ADDR="unix:"), 429, "rate_limited")
    # A real address still has its own bucket.
    assert client.post("/api/v1/jobs", data="{}", content_type="application/json",
                       REMOTE_ADDR="198.51.100.1").status_code == 401
    # A key used from such a request records its use, without an address.
    user, raw = api_key_for()
    assert client.get("/api/v1/workflows", HTTP_X_API_KEY=raw, REMOTE_ADDR="unix:").status_code == 200
    key = ApiKey.objects.get(owner=user)
    assert key.last_used_at is not None and key.last_used_ip is None


def test_a_mistyped_proxy_list_stops_the_service_at_start(settings):
    from levqor.checks import trusted_proxies_check

    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "10.0.0.300"]
    errors = trusted_proxies_check(None)
    assert [e.id for e in errors] == ["levqor.E002"] and "10.0.0.300" in errors[0].msg
