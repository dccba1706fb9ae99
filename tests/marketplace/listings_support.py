"""Helpers of the listings tests: a valid listing body, and a listing made through the create service."""

from marketplace.services.listings import listing_create
from tests.marketplace.store_support import SCHEMA
from tests.partners.governance_support import partner_make


def listing_fields(**changes) -> dict:
    fields = {"name": "Text Summariser", "category": "module", "price": "9.99", "currency": "usd",
              "description": "Summarises any text.", "metadata": {"docs": "https://acme.test/docs"},
              "input_schema": SCHEMA, "endpoint": "https://modules.acme.test/run"}
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not ...}


def listing_created(partner=None, **changes):
    partner = partner or partner_make()
    return listing_create(partner=partner, actor=partner.owner, **listing_fields(**changes))
