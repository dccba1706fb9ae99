"""The channels an alert is sent to: email (Django's email framework, so Resend when configured),
a Slack incoming webhook, a Telegram bot's sendMessage, and a generic webhook signed the Standard
Webhooks way. Each says whether its settings configure it, and sends one alert or raises
ChannelError with a message that holds no secret (no token, webhook URL or signing secret)."""

import binascii
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.serializers.json import DjangoJSONEncoder
from django.urls import reverse
from standardwebhooks import Webhook
from standardwebhooks.webhooks import EmptyWebhookSecretError

from intelligence.models import Alert, AlertChannel, AlertDelivery
from levqor.redaction import redact_text
from levqor.site import site_url
from levqor.webhooks.signing import webhook_headers

USER_AGENT = "Levqor-Alerts/1"
TELEGRAM_TEXT_LIMIT = 4096  # the Bot API refuses longer messages
_ERROR_EXCERPT = 200


@dataclass(frozen=True)
class ChannelState:
    configured: bool
    detail: str  # where it sends (without secrets), or which settings are missing


class ChannelError(Exception):
    """A send that did not work. `message` is safe to store and show; `retry_after` (seconds) is
    how long the receiver asked us to wait, when it said."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def alert_admin_url(alert: Alert) -> str:
    return site_url(reverse("admin:intelligence_alert_change", args=[alert.pk]))


def alert_subject(alert: Alert) -> str:
    return f"[{alert.severity.upper()}] {alert.title}"


def alert_text(alert: Alert) -> str:
    """The alert as plain text, the same on every channel."""
    lines = [alert_subject(alert)]
    if alert.body:
        lines += ["", alert.body]
    lines += ["", f"Source: {alert.source}. First seen {alert.first_seen:%Y-%m-%d %H:%M:%S} UTC"
                  + (f", seen {alert.count} times." if alert.count > 1 else "."),
              f"Open in admin: {alert_admin_url(alert)}"]
    return "\n".join(lines)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "[REDACTED]")
    return redact_text(text)


class _HttpChannel:
    """A channel that POSTs JSON to an address: errors name the status or the transport failure only."""

    label = ""

    def secrets(self) -> list[str]:
        return []

    def _post(self, url: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        try:
            with httpx.Client(timeout=settings.ALERT_HTTP_TIMEOUT_SECONDS, follow_redirects=False) as client:
                return client.post(url, content=content, headers={"user-agent": USER_AGENT, **headers})
        except httpx.HTTPError as exc:
            raise ChannelError(_scrub(f"{type(exc).__name__}: {exc}", self.secrets())[:500]) from exc

    def _refused(self, response: httpx.Response, detail: str = "") -> ChannelError:
        detail = detail or response.text[:_ERROR_EXCERPT].strip()
        message = f"{self.label} answered {response.status_code}" + (f": {detail}" if detail else ".")
        retry_after = None
        if response.status_code == 429:
            try:
                retry_after = float(response.headers.get("retry-after", ""))
            except ValueError:
                pass
        return ChannelError(_scrub(message, self.secrets()), retry_after=retry_after)


class EmailChannel:
    def state(self) -> ChannelState:
        if not settings.OPS_EMAILS:
            return ChannelState(False, "Not configured: set OPS_EMAILS (comma-separated addresses).")
        backend = settings.EMAIL_BACKEND
        if backend == "accounts.email.ResendEmailBackend":
            how = "through Resend"
        elif backend == "django.core.mail.backends.filebased.EmailBackend":
            how = f"to the local outbox {settings.EMAIL_FILE_PATH} (RESEND_API_KEY is not set)"
        else:
            how = f"through {backend}"
        return ChannelState(True, f"To {', '.join(settings.OPS_EMAILS)}, {how}.")

    def send(self, alert: Alert, delivery: AlertDelivery) -> None:
        message = EmailMessage(subject=f"[Levqor] {alert_subject(alert)}"[:250], body=alert_text(alert),
                               to=settings.OPS_EMAILS)
        try:
            sent = message.send()
        except Exception as exc:  # SMTP, Resend, a full disk: every backend raises its own
            raise ChannelError(_scrub(f"{type(exc).__name__}: {exc}", [])[:500]) from exc
        if not sent:
            raise ChannelError("The email backend sent nothing.")


def _slack_escape(text: str) -> str:
    # Slack reads &, < and > as its own markup (links, mentions): https://api.slack.com/reference/surfaces/formatting
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackChannel(_HttpChannel):
    label = "Slack"

    def secrets(self):
        url = settings.ALERT_SLACK_WEBHOOK_URL
        return [url, urlsplit(url).path] if url else []

    def state(self) -> ChannelState:
        if not settings.ALERT_SLACK_WEBHOOK_URL:
            return ChannelState(False, "Not configured: set ALERT_SLACK_WEBHOOK_URL.")
        return ChannelState(True, "Incoming webhook set (ALERT_SLACK_WEBHOOK_URL).")

    def send(self, alert: Alert, delivery: AlertDelivery) -> None:
        text = f"*{_slack_escape(alert_subject(alert))}*"
        if alert.body:
            text += f"\n{_slack_escape(alert.body)}"
        text += (f"\nSource: {_slack_escape(alert.source)}. First seen {alert.first_seen:%Y-%m-%d %H:%M:%S} UTC."
                 f"\n<{alert_admin_url(alert)}|Open in admin>")
        body = json.dumps({"text": text}).encode()
        response = self._post(settings.ALERT_SLACK_WEBHOOK_URL, content=body,
                              headers={"content-type": "application/json"})
        if not 200 <= response.status_code < 300:
            raise self._refused(response)


class TelegramChannel(_HttpChannel):
    label = "Telegram"

    def secrets(self):
        return [settings.ALERT_TELEGRAM_BOT_TOKEN]

    def state(self) -> ChannelState:
        missing = [name for name in ("ALERT_TELEGRAM_BOT_TOKEN", "ALERT_TELEGRAM_CHAT_ID") if not getattr(settings, name)]
        if missing:
            return ChannelState(False, f"Not configured: set {' and '.join(missing)}.")
        return ChannelState(True, f"Bot token set; chat {settings.ALERT_TELEGRAM_CHAT_ID} through "
                                  f"{urlsplit(settings.ALERT_TELEGRAM_API_URL).netloc}.")

    def send(self, alert: Alert, delivery: AlertDelivery) -> None:
        url = f"{settings.ALERT_TELEGRAM_API_URL.rstrip('/')}/bot{settings.ALERT_TELEGRAM_BOT_TOKEN}/sendMessage"
        text = alert_text(alert)
        if len(text) > TELEGRAM_TEXT_LIMIT:
            text = text[:TELEGRAM_TEXT_LIMIT - 1] + "…"
        body = json.dumps({"chat_id": settings.ALERT_TELEGRAM_CHAT_ID, "text": text,
                           "link_preview_options": {"is_disabled": True}}).encode()
        response = self._post(url, content=body, headers={"content-type": "application/json"})
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        if 200 <= response.status_code < 300 and answer.get("ok") is True:
            return
        error = self._refused(response, str(answer.get("description") or "")[:_ERROR_EXCERPT])
        parameters = answer.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if isinstance(retry_after, int | float):  # a 429 says how long to wait in its body
            error.retry_after = float(retry_after)
        raise error


class WebhookChannel(_HttpChannel):
    label = "The webhook receiver"

    def secrets(self):
        url = settings.ALERT_WEBHOOK_URL
        return [settings.ALERT_WEBHOOK_SECRET, url, urlsplit(url).path if url else ""]

    def state(self) -> ChannelState:
        missing = [name for name in ("ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_SECRET") if not getattr(settings, name)]
        if missing:
            return ChannelState(False, f"Not configured: set {' and '.join(missing)}.")
        try:
            Webhook(settings.ALERT_WEBHOOK_SECRET)
        except (binascii.Error, ValueError, EmptyWebhookSecretError):
            return ChannelState(False, "Not configured: ALERT_WEBHOOK_SECRET is not a whsec_... secret (base64).")
        parts = urlsplit(settings.ALERT_WEBHOOK_URL)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return ChannelState(False, "Not configured: ALERT_WEBHOOK_URL is not an http(s) URL.")
        return ChannelState(True, f"POST to {parts.hostname}, signed (Standard Webhooks).")

    def send(self, alert: Alert, delivery: AlertDelivery) -> None:
        body = json.dumps({"type": "alert.raised", "data": alert_payload(alert)}, cls=DjangoJSONEncoder,
                          separators=(",", ":")).encode()
        # One message id per delivery, the same across its retries: receivers drop repeats by it.
        headers = webhook_headers(secret=settings.ALERT_WEBHOOK_SECRET, msg_id=f"msg_alert_{delivery.pk}",
                                  timestamp=int(time.time()), body=body)
        response = self._post(settings.ALERT_WEBHOOK_URL, content=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise self._refused(response)


def alert_payload(alert: Alert) -> dict:
    """The alert as the signed webhook sends it."""
    return {"id": alert.pk, "source": alert.source, "severity": alert.severity, "title": alert.title,
            "body": alert.body, "dedup_key": alert.dedup_key, "status": alert.status, "count": alert.count,
            "first_seen": alert.first_seen, "last_seen": alert.last_seen, "admin_url": alert_admin_url(alert)}


CHANNELS = {
    AlertChannel.EMAIL: EmailChannel(),
    AlertChannel.SLACK: SlackChannel(),
    AlertChannel.TELEGRAM: TelegramChannel(),
    AlertChannel.WEBHOOK: WebhookChannel(),
}


def channel_state(channel: str) -> ChannelState:
    """Whether `channel` is configured, and a line for operators (never a secret)."""
    return CHANNELS[AlertChannel(channel)].state()


def channel_states() -> dict[str, ChannelState]:
    return {channel.value: CHANNELS[channel].state() for channel in AlertChannel}


def channel_send(channel: str, *, alert: Alert, delivery: AlertDelivery) -> None:
    """Send one alert to one channel; ChannelError (a safe message) when it did not work."""
    CHANNELS[AlertChannel(channel)].send(alert, delivery)
