"""Django email backend that sends through Resend's official SDK (used when RESEND_API_KEY is set).

The SDK reads its key and base URL from module attributes (resend.api_key, resend.api_url); we
set both from settings before each send, so RESEND_API_URL can point it at a fake server in
tests or at a regional endpoint. A Resend error raises (unless fail_silently): never a fake success.
"""

import base64
import logging

import resend
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend

logger = logging.getLogger("levqor.email")


class ResendEmailError(Exception):
    """Resend refused or could not take a message."""


class ResendEmailBackend(BaseEmailBackend):
    def __init__(self, fail_silently=False, api_key=None, api_url=None, **kwargs):
        super().__init__(fail_silently=fail_silently, **kwargs)
        self.api_key = api_key or settings.RESEND_API_KEY
        self.api_url = (api_url or settings.RESEND_API_URL).rstrip("/")

    def send_messages(self, email_messages):
        if not email_messages:
            return 0
        if not self.api_key:
            if self.fail_silently:
                return 0
            raise ResendEmailError("RESEND_API_KEY is not set: Resend is not configured.")
        resend.api_key = self.api_key
        resend.api_url = self.api_url
        sent = 0
        for message in email_messages:
            try:
                answer = resend.Emails.send(_params(message))
            except resend.exceptions.ResendError as exc:
                logger.warning("resend refused a message: %s", exc)
                if not self.fail_silently:
                    raise ResendEmailError(f"Resend refused the message: {exc}") from exc
                continue
            if not answer or not answer.get("id"):
                if not self.fail_silently:
                    raise ResendEmailError("Resend answered without a message id.")
                continue
            sent += 1
        return sent


def _params(message) -> dict:
    params = {
        "from": message.from_email or settings.DEFAULT_FROM_EMAIL,
        "to": list(message.to),
        "subject": message.subject,
        "text": message.body,
    }
    if message.cc:
        params["cc"] = list(message.cc)
    if message.bcc:
        params["bcc"] = list(message.bcc)
    if message.reply_to:
        params["reply_to"] = list(message.reply_to)
    for content, mimetype in getattr(message, "alternatives", []):
        if mimetype == "text/html":
            params["html"] = content
    if getattr(message, "content_subtype", "plain") == "html":
        params["html"] = message.body
        params.pop("text")
    if message.extra_headers:
        params["headers"] = {str(k): str(v) for k, v in message.extra_headers.items()}
    attachments = []
    for attachment in message.attachments:
        if not isinstance(attachment, tuple) or len(attachment) != 3:
            raise ResendEmailError("Only (filename, content, mimetype) attachments can be sent through Resend.")
        filename, content, mimetype = attachment
        raw = content.encode() if isinstance(content, str) else bytes(content)
        item = {"filename": filename, "content": base64.b64encode(raw).decode()}
        if mimetype:
            item["content_type"] = mimetype
        attachments.append(item)
    if attachments:
        params["attachments"] = attachments
    return params
