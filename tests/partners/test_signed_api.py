"""The signed partner API: a request signed with a partner credential is who it says it is, once,
within five minutes; anything else is refused with the reason, in the project's error shape."""

import hashlib
import subprocess
import sys
import time

import pytest
from django.test import Client

from partners.models import PartnerCredential
from partners.services.credentials import credential_revoke, credential_rotate
from partners.services.status import partner_status_change
from partners.signing import signed_headers
from tests.api_asserts import assert_api_error
from tests.conftest import UNREACHABLE_REDIS_CACHE
from tests.factories import api_key_for
from tests.jobs.support import worker_env
from tests.partners.signed_support import ME, as_meta, credential_make, partner_make, signed_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def signer():
    credential, secret = credential_make()
    return credential, secret


def _me(credential, secret, **kwargs):
    return signed_request(None, "GET", ME, key_id=credential.key_id, secret=secret, **kwargs)


def test_a_correctly_signed_request_is_the_partner(signer):
    credential, secret = signer
    response = _me(credential, secret)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["partner_id"] == str(credential.partner_id)
    assert (body["name"], body["status"], body["key_id"]) == ("Acme", "approved", credential.key_id)
    assert body["previous_secret_expires_at"] is None
    credential.refresh_from_db()
    assert credential.last_used_at is not None


def test_a_signed_request_with_a_query_and_a_body_verifies(signer):
    credential, secret = signer
    response = _me(credential, secret, query="b=2&a=%2F1", body=b'{"hello": "world"}')
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("field, value", [
    ("method", "POST"),
    ("path", "/api/v1/partner/you"),
    ("query", "a=1"),
    ("body", b'{"amount": 1}'),
    ("timestamp", None),
    ("nonce", "another-nonce-0123456789"),
])
def test_each_signed_field_tampered_with_is_refused(signer, field, value):
    credential, secret = signer
    if field == "timestamp":  # sent one second off, within the window: only the signature can tell
        now = int(time.time())
        response = _me(credential, secret, sign_as={"timestamp": now}, headers={"X-Levqor-Timestamp": str(now - 1)})
    elif field == "nonce":
        response = _me(credential, secret, sign_as={"nonce": "signed-nonce-0123456789"}, headers={"X-Levqor-Nonce": value})
    else:  # signed as one thing, sent as another
        response = _me(credential, secret, sign_as={field: value})
    assert_api_error(response, 401, "signature_invalid")
    assert response.json()["details"]["reason"] == "signature_mismatch"
    assert response.json()["message"] == "The key id is unknown or revoked, or the signature does not match the request."


def test_the_nonce_header_changed_after_signing_is_refused(signer):
    credential, secret = signer
    response = _me(credential, secret, headers={"X-Levqor-Nonce": "changed-after-signing-1234"})
    assert_api_error(response, 401, "signature_invalid")


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_a_timestamp_outside_five_minutes_either_way_is_expired(signer, skew):
    credential, secret = signer
    response = _me(credential, secret, sign_as={"timestamp": int(time.time()) + skew})
    assert_api_error(response, 401, "signature_expired")
    assert response.json()["details"]["window_seconds"] == 300


def test_the_window_is_measured_by_our_clock(signer, clock):
    credential, secret = signer
    headers = signed_headers(key_id=credential.key_id, secret=secret, method="GET", path=ME)
    clock.advance(290)
    assert Client().get(ME, **as_meta(headers)).status_code == 200
    headers = signed_headers(key_id=credential.key_id, secret=secret, method="GET", path=ME)
    clock.advance(20)
    assert_api_error(Client().get(ME, **as_meta(headers)), 401, "signature_expired")


def test_a_replayed_request_is_refused(signer):
    credential, secret = signer
    headers = signed_headers(key_id=credential.key_id, secret=secret, method="GET", path=ME)
    assert Client().get(ME, **as_meta(headers)).status_code == 200
    replay = Client().get(ME, **as_meta(headers))
    assert_api_error(replay, 401, "nonce_reused")


def test_a_nonce_is_recorded_only_once_the_signature_verifies(signer):
    credential, secret = signer
    nonce = "chosen-by-the-partner-0001"
    forged = _me(credential, "lps_not-the-secret", sign_as={"nonce": nonce})
    assert_api_error(forged, 401, "signature_invalid")
    assert _me(credential, secret, sign_as={"nonce": nonce}).status_code == 200


def test_a_nonce_of_one_key_does_not_burn_another_keys(signer):
    credential, secret = signer
    other, other_secret = credential_make(credential.partner, name="other")
    nonce = "same-nonce-on-two-keys-01"
    assert _me(credential, secret, sign_as={"nonce": nonce}).status_code == 200
    assert _me(other, other_secret, sign_as={"nonce": nonce}).status_code == 200


_REPLAY_ELSEWHERE = """
import sys
import django
django.setup()
from django.test import Client
meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in zip(sys.argv[1::2], sys.argv[2::2])}
print(Client().get("/api/v1/partner/me", **meta).status_code)
"""


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_nonce_seen_by_another_web_process_is_refused_here(signer):
    credential, secret = signer
    headers = signed_headers(key_id=credential.key_id, secret=secret, method="GET", path=ME)
    args = [item for pair in headers.items() for item in pair]
    other = subprocess.run([sys.executable, "-c", _REPLAY_ELSEWHERE, *args], env=worker_env(),  # noqa: S603
                           capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip().splitlines()[-1] == "200"
    assert_api_error(Client().get(ME, **as_meta(headers)), 401, "nonce_reused")


def test_the_old_secret_verifies_until_the_overlap_ends(signer, clock):
    credential, old_secret = signer
    rotated = credential_rotate(credential=credential, overlap_seconds=3600, actor=None)
    assert rotated.secret != old_secret and rotated.credential.key_id == credential.key_id
    response = _me(credential, old_secret)
    assert response.status_code == 200
    assert response.json()["previous_secret_expires_at"] is not None
    assert _me(credential, rotated.secret).status_code == 200
    clock.advance(3601)
    assert_api_error(_me(credential, old_secret), 401, "signature_invalid")
    assert _me(credential, rotated.secret).status_code == 200


def test_a_rotation_without_overlap_stops_the_old_secret_at_once(signer):
    credential, old_secret = signer
    rotated = credential_rotate(credential=credential, overlap_seconds=0, actor=None)
    assert_api_error(_me(credential, old_secret), 401, "signature_invalid")
    assert _me(credential, rotated.secret).status_code == 200


def test_a_revoked_key_is_refused_as_an_unknown_one(signer):
    credential, secret = signer
    credential_revoke(credential=credential, actor=None)
    revoked = _me(credential, secret)
    assert_api_error(revoked, 401, "signature_invalid")
    unknown = signed_request(None, "GET", ME, key_id="lpk_" + "0" * 24, secret=secret)
    assert_api_error(unknown, 401, "signature_invalid")
    assert revoked.json()["message"] == unknown.json()["message"] == (
        "The key id is unknown or revoked, or the signature does not match the request.")
    assert revoked.json()["details"] == unknown.json()["details"]
    assert revoked.json()["details"]["reason"] == "signature_mismatch"


def test_an_unknown_key_id_and_a_wrong_signature_get_the_same_answer(signer):
    """Which key ids exist is nobody's business: a known key id signed with a wrong secret is
    answered exactly as an unknown one (status, code, message, details)."""
    credential, _secret = signer
    wrong = signed_request(None, "GET", ME, key_id=credential.key_id, secret="lps_" + "x" * 43)
    unknown = signed_request(None, "GET", ME, key_id="lpk_" + "0" * 24, secret="lps_" + "x" * 43)
    assert_api_error(wrong, 401, "signature_invalid")
    assert_api_error(unknown, 401, "signature_invalid")
    assert wrong.json()["message"] == unknown.json()["message"]
    assert wrong.json()["details"] == unknown.json()["details"] == {
        "reason": "signature_mismatch",
        "signed_as": {"method": "GET", "path": ME, "query": "", "body_sha256": hashlib.sha256(b"").hexdigest()}}


def test_a_deactivated_owners_credential_is_refused_as_revoked(signer):
    credential, secret = signer
    type(credential.partner.owner).objects.filter(pk=credential.partner.owner_id).update(is_active=False)
    response = _me(credential, secret)
    assert_api_error(response, 401, "signature_invalid")
    assert response.json()["details"]["reason"] == "signature_mismatch"


def test_a_suspended_partner_is_refused(signer):
    credential, secret = signer
    partner_status_change(partner=credential.partner, action="suspend", actor=None, reason="Chargebacks")
    response = _me(credential, secret)
    assert_api_error(response, 403, "partner_not_approved")
    assert response.json()["details"] == {"status": "suspended"}


@pytest.mark.parametrize("missing", ["X-Levqor-Key-Id", "X-Levqor-Timestamp", "X-Levqor-Nonce", "X-Levqor-Signature"])
def test_a_missing_header_is_named(signer, missing):
    credential, secret = signer
    response = _me(credential, secret, headers={missing: None})
    assert_api_error(response, 401, "signature_invalid")
    assert response.json()["details"] == {"reason": "missing_headers", "missing": [missing]}


@pytest.mark.parametrize("header, value", [
    ("X-Levqor-Timestamp", "12.5"),
    ("X-Levqor-Nonce", "short"),
    ("X-Levqor-Nonce", "has spaces in it 0123456789"),
    ("X-Levqor-Nonce", "x" * 65),
    ("X-Levqor-Signature", "v2=" + "0" * 64),
    ("X-Levqor-Signature", "deadbeef"),
    ("X-Levqor-Key-Id", "lpk_XYZ"),
])
def test_a_malformed_header_is_named(signer, header, value):
    credential, secret = signer
    response = _me(credential, secret, headers={header: value})
    assert_api_error(response, 401, "signature_invalid")
    assert response.json()["details"] == {"reason": "malformed_header", "header": header}


def test_a_non_partners_keys_are_refused(signer):
    user, raw = api_key_for()
    # An API key where a partner key id belongs: not a key id.
    as_key_id = signed_request(None, "GET", ME, key_id=raw, secret="lps_whatever")
    assert_api_error(as_key_id, 401, "signature_invalid")
    # An API key, as an API key: this endpoint takes only partner signatures.
    response = Client().get(ME, HTTP_X_API_KEY=raw)
    assert_api_error(response, 401, "signature_invalid")
    assert response.json()["details"]["reason"] == "missing_headers"
    # Nobody at all.
    assert_api_error(Client().get(ME), 401, "signature_invalid")


def test_partner_credentials_authenticate_only_the_views_that_opt_in(signer):
    credential, secret = signer
    for path in ("/api/v1/partners/me/credentials", "/api/v1/jobs", "/api/v1/keys"):
        response = signed_request(None, "GET", path, key_id=credential.key_id, secret=secret)
        assert_api_error(response, 401, "not_authenticated")


def test_the_raw_path_as_sent_is_what_is_signed():
    credential, secret = credential_make()
    encoded = "/api/v1/partner/%6De"  # routes to /api/v1/partner/me
    # A server that passes the raw request target on (gunicorn's RAW_URI): the encoding as sent is verified.
    response = signed_request(None, "GET", encoded, key_id=credential.key_id, secret=secret, RAW_URI=encoded)
    assert response.status_code == 200, response.content
    response = signed_request(None, "GET", encoded, key_id=credential.key_id, secret=secret, RAW_URI=encoded,
                              sign_as={"path": ME})
    assert_api_error(response, 401, "signature_invalid")
    assert response.json()["details"]["signed_as"]["path"] == encoded


def test_a_cache_out_of_reach_is_a_503_not_a_500(signer, settings):
    credential, secret = signer
    settings.CACHES = {**settings.CACHES, "default": UNREACHABLE_REDIS_CACHE}
    settings.RATELIMIT_ENABLE = False
    response = _me(credential, secret)
    assert_api_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "5"


def test_a_browser_gets_the_refusal_as_json(signer):
    credential, secret = signer
    response = _me(credential, "lps_wrong", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert_api_error(response, 401, "signature_invalid")


def test_use_is_written_at_most_once_a_minute(signer, clock):
    credential, secret = signer
    assert _me(credential, secret).status_code == 200
    first = PartnerCredential.objects.get(pk=credential.pk).last_used_at
    clock.advance(30)
    assert _me(credential, secret).status_code == 200
    assert PartnerCredential.objects.get(pk=credential.pk).last_used_at == first
    clock.advance(31)
    assert _me(credential, secret).status_code == 200
    assert PartnerCredential.objects.get(pk=credential.pk).last_used_at > first


def test_a_signed_request_costs_one_query(signer, django_assert_max_num_queries):
    credential, secret = signer
    assert _me(credential, secret).status_code == 200  # writes last_used_at
    with django_assert_max_num_queries(1):
        assert _me(credential, secret).status_code == 200


def test_a_pending_partner_cannot_sign_even_with_a_credential_left_from_before():
    partner = partner_make()
    credential, secret = credential_make(partner)
    type(partner).objects.filter(pk=partner.pk).update(status="pending_approval")
    assert_api_error(_me(credential, secret), 403, "partner_not_approved")
