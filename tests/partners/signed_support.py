"""Helpers of the signed partner API's tests: approved partners, their credentials, signed requests."""

from decimal import Decimal

from django.test import Client
from django.utils import timezone

from partners.models import Partner
from partners.services.credentials import credential_create
from partners.signing import signed_headers
from tests.factories import UserFactory

ME = "/api/v1/partner/me"


def partner_make(*, status="approved", owner=None, name="Acme") -> Partner:
    owner = owner or UserFactory()
    return Partner.objects.create(owner=owner, name=name, email="ops@acme.test", webhook_url="https://acme.test/h",
                                  revenue_share=Decimal("0.7"), status=status)


def credential_make(partner=None, *, name="production"):
    """(credential, secret) of a new credential of an approved partner (made if not given)."""
    partner = partner or partner_make()
    created = credential_create(partner=partner, name=name, actor=partner.owner)
    return created.credential, created.secret


def as_meta(headers: dict) -> dict:
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}


def signed_request(client: Client | None, method: str, path: str, *, key_id: str, secret: str, query: str = "",
                   body: bytes = b"", sign_as: dict | None = None, headers: dict | None = None, **extra):
    """Send a signed request with Django's test client. sign_as overrides what is signed (method,
    path, query, body, timestamp, nonce) to tamper with the request; headers overrides headers sent."""
    client = client or Client()
    # Signed at our clock's time (the clock fixture moves it), as a partner whose clock is right.
    signed = {"method": method, "path": path, "query": query, "body": body,
              "timestamp": int(timezone.now().timestamp()), **(sign_as or {})}
    sent = {**signed_headers(key_id=key_id, secret=secret, **signed), **(headers or {})}
    sent = {name: value for name, value in sent.items() if value is not None}  # None: the header left out
    url = path + (f"?{query}" if query else "")
    return client.generic(method, url, data=body, content_type="application/json", **as_meta(sent), **extra)
