"""Marketplace set-up for tests: an approved partner's listing in the status a test needs, made
with the ORM (the listing services are tested on their own), its signing secret generated as the
create service does."""

import itertools

from django.contrib.messages import get_messages
from django.utils import timezone

from levqor.webhooks.signing import webhook_secret_generate
from marketplace.models import Listing
from partners.models import Partner
from tests.partners.governance_support import partner_make

_numbers = itertools.count(1)

SCHEMA = {"type": "object", "required": ["text"], "additionalProperties": False,
          "properties": {"text": {"type": "string", "maxLength": 1000}}}


def listing_make(*, partner: Partner | None = None, status: str = Listing.Status.PUBLISHED, amount_minor: int = 0,
                 currency: str = "usd", slug: str | None = None, name: str | None = None,
                 category: str = Listing.Category.MODULE, endpoint: str = "https://modules.acme.test/run",
                 input_schema: dict | None = None, **fields) -> Listing:
    number = next(_numbers)
    partner = partner or partner_make(name=f"Acme {number}")
    now = timezone.now()
    return Listing.objects.create(
        partner=partner, slug=slug or f"acme-module-{number}", name=name or f"Acme module {number}", category=category,
        amount_minor=amount_minor, currency=currency, description="Summarises text.", input_schema=input_schema or SCHEMA,
        endpoint=endpoint, status=status, secret=webhook_secret_generate(),
        published_at=now if status == Listing.Status.PUBLISHED else None, **fields)


def csrf_post(client, path, data=None):
    """A form post as a browser makes it: the CSRF cookie from a signed-in page, its token in the form."""
    client.get("/webhooks")  # any signed-in page sets the CSRF cookie
    return client.post(path, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, **(data or {})})


def page_messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]
