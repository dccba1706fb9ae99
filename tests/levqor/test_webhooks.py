"""Signing and verifying outbound webhooks (levqor.webhooks), checked against the Standard
Webhooks package as any receiver would check them."""

import base64
import json
import time

import pytest
import standardwebhooks

from levqor.webhooks.signing import SECRET_PREFIX, webhook_headers, webhook_secret_generate, webhook_verify

# The example in the Standard Webhooks specification's test vectors.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS, SPEC_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _signed(secret, body=b'{"type":"job.succeeded","data":{"id":"x"}}', *, ts=None):
    ts = int(time.time()) if ts is None else ts
    return body, webhook_headers(secret=secret, msg_id="msg_1", timestamp=ts, body=body)


def test_headers_are_the_standard_webhooks_ones_and_match_the_spec_vector():
    headers = webhook_headers(secret=SPEC_SECRET, msg_id=SPEC_ID, timestamp=SPEC_TS, body=SPEC_BODY)
    assert headers == {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS),
                       "webhook-signature": SPEC_SIGNATURE, "content-type": "application/json"}


def test_a_new_secret_is_whsec_and_32_random_bytes():
    secret = webhook_secret_generate()
    assert secret.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)) == 32
    assert secret != webhook_secret_generate()


def test_what_we_sign_the_package_verifies():
    secret = webhook_secret_generate()
    body, headers = _signed(secret, body=json.dumps({"name": "Zoë ✓"}, ensure_ascii=False).encode())
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"name": "Zoë ✓"}
    assert webhook_verify(secret=secret, headers=headers, body=body)


def test_verify_accepts_any_of_several_signatures_as_during_a_secret_rotation():
    old, new = webhook_secret_generate(), webhook_secret_generate()
    body, headers = _signed(new)
    old_sig = webhook_headers(secret=old, msg_id="msg_1", timestamp=int(headers["webhook-timestamp"]),
                              body=body)["webhook-signature"]
    headers["webhook-signature"] = f"{old_sig} {headers['webhook-signature']}"
    assert webhook_verify(secret=new, headers=headers, body=body)
    assert webhook_verify(secret=old, headers=headers, body=body)


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda s, b, h: (webhook_secret_generate(), b, h), id="other-secret"),
    pytest.param(lambda s, b, h: (s, b.replace(b"x", b"y"), h), id="body-changed"),
    pytest.param(lambda s, b, h: (s, b, {**h, "webhook-id": "msg_2"}), id="id-changed"),
    pytest.param(lambda s, b, h: (s, b, {k: v for k, v in h.items() if k != "webhook-signature"}),
                 id="no-signature"),
    pytest.param(lambda s, b, h: (s, b, {**h, "webhook-signature": "garbage"}), id="signature-without-version"),
    pytest.param(lambda s, b, h: (s, b, {**h, "webhook-signature": "v1,not*base64"}), id="signature-not-base64"),
    pytest.param(lambda s, b, h: (s, b, {**h, "webhook-timestamp": "soon"}), id="timestamp-not-a-number"),
    pytest.param(lambda s, b, h: (s, b"\xff" + b, h), id="body-not-utf8"),
])
def test_verify_is_false_for_anything_that_does_not_verify_and_never_raises(tamper):
    secret = webhook_secret_generate()
    body, headers = _signed(secret)
    assert webhook_verify(secret=secret, headers=headers, body=body)
    secret, body, headers = tamper(secret, body, headers)
    assert webhook_verify(secret=secret, headers=headers, body=body) is False


@pytest.mark.parametrize("age", [-400, 400])
def test_verify_refuses_a_timestamp_more_than_five_minutes_away(age):
    secret = webhook_secret_generate()
    body, headers = _signed(secret, ts=int(time.time()) - age)
    assert not webhook_verify(secret=secret, headers=headers, body=body)
