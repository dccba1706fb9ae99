"""Outbound webhooks signed the Standard Webhooks way (webhook-id/-timestamp/-signature).

The one place in the project that signs and verifies them; the HMAC itself is the
`standardwebhooks` package's, so our signatures are what every Standard Webhooks receiver checks.
"""

import base64
import binascii
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105  (a format prefix, not a secret)


def webhook_secret_generate() -> str:
    """A new signing secret: "whsec_" + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value: "v1,<base64 HMAC-SHA256 of id.timestamp.body>"."""
    # The package signs text; our bodies are UTF-8 JSON, which it encodes back to the same bytes.
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode())


def webhook_headers(*, secret: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers that go with `body`, signed with `secret`, or with each of several secrets (a
    rotation's overlap): the signature header then lists "v1,<sig> v1,<sig>", space-separated, and a
    receiver holding either secret verifies it."""
    secrets_ = [secret] if isinstance(secret, str) else list(secret)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(webhook_sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body)
                                      for s in secrets_),
        "content-type": "application/json",
    }


def webhook_verify(*, secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """What a receiver does: the timestamp within 5 minutes of now and one v1 signature matching.

    False for anything that does not verify, including malformed headers or a body that is not
    UTF-8 (the package raises ValueError for those rather than its verification error)."""
    webhook = Webhook(secret)  # outside the try: a broken secret of ours is our bug, not a bad message
    try:
        webhook.verify(body, dict(headers.items()), json_parse=False)
    except (WebhookVerificationError, ValueError, binascii.Error):
        return False
    return True
