"""How long one attempt may take and after how many consecutive failures an endpoint is disabled.

The partner governance policy decides both (partners sits above levqor in the data flow), so it
registers a provider from PartnersConfig.ready(); without one the settings answer. The provider
is read once per attempt: it must answer from memory or the cache."""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class WebhookPolicy:
    timeout_seconds: float
    disable_after_failures: int
    https_required: bool


_provider: Callable[[], WebhookPolicy] | None = None


def webhook_policy_register(provider: Callable[[], WebhookPolicy] | None) -> None:
    global _provider
    _provider = provider


def webhook_policy() -> WebhookPolicy:
    if _provider is not None:
        return _provider()
    return WebhookPolicy(timeout_seconds=settings.WEBHOOK_TIMEOUT_SECONDS,
                         disable_after_failures=settings.WEBHOOK_DISABLE_AFTER_FAILURES,
                         https_required=True)


def webhook_https_required() -> bool:
    """Whether a webhook URL must be https now: the policy's rule, in production (WEBHOOK_HTTPS_ONLY)."""
    return settings.WEBHOOK_HTTPS_ONLY and webhook_policy().https_required
