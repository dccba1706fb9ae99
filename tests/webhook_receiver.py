"""What a receiver of our webhooks does with a request the fake server recorded."""

import standardwebhooks


def received_verifies(request, secret) -> bool:
    """Whether the recorded request verifies with `secret`, checked as a receiver checks it: with the
    Standard Webhooks package itself, not our signing code."""
    try:
        standardwebhooks.Webhook(secret).verify(request["body"], request["headers"])
    except standardwebhooks.WebhookVerificationError:
        return False
    return True
