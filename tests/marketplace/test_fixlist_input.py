"""Bad numbers in a listing or a query are 400s naming the field: a price Decimal cannot hold
(1e999999999 overflowed: a 500) or with more decimals than the currency has (1e-999999999 became
0.00, a free listing), an offset past OFFSET_MAX (reached the database: a 500), a currency Stripe
does not charge cards in."""

import json

import pytest
from rest_framework.test import APIClient

from levqor.money import STRIPE_CURRENCIES, major_to_minor
from marketplace.store_api.listings import OFFSET_MAX
from tests.factories import api_key_for
from tests.marketplace.listings_support import listing_fields
from tests.marketplace.store_support import listing_make
from tests.partners.governance_support import partner_make

pytestmark = pytest.mark.django_db
V1 = "/api/v1/marketplace/listings"


def create(**changes):
    partner = partner_make()
    _, raw = api_key_for(partner.owner)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_X_API_KEY=raw)
    return client.post(V1, data=json.dumps(listing_fields(**changes)), content_type="application/json")


def fields_of(response) -> list[str]:
    return [error["field"] for error in response.json()["details"]["errors"]]


@pytest.mark.parametrize("price", ["1e999999999", "1e-999999999", "0.001", "1E+30", "nan", "abc"])
def test_a_price_decimal_cannot_take_is_a_400(price):
    response = create(price=price)
    assert response.status_code == 400, response.content[:300]
    assert fields_of(response) == ["price"]


@pytest.mark.parametrize("amount, currency, minor", [
    ("19.5", "usd", 1950), ("19.500", "usd", 1950), ("1e3", "usd", 100000), ("500", "jpy", 500),
    ("1.234", "kwd", 1234), ("0", "usd", 0), ("-1.5", "usd", -150)])
def test_major_to_minor_is_exact(amount, currency, minor):
    assert major_to_minor(amount, currency) == minor


@pytest.mark.parametrize("amount, currency", [
    ("1e999999999", "usd"), ("1e-999999999", "usd"), ("0.001", "usd"), ("1.5", "jpy"), ("1e30", "usd"), ("x", "usd")])
def test_major_to_minor_refuses_with_a_value_error(amount, currency):
    with pytest.raises(ValueError):
        major_to_minor(amount, currency)


@pytest.mark.parametrize("path", [V1, "/api/marketplace/listings"])
@pytest.mark.parametrize("offset", ["99999999999999999999999999", str(OFFSET_MAX + 1), "9223372036854775807"])
def test_an_offset_past_the_cap_is_a_400_naming_it(path, offset):
    listing_make()
    response = APIClient(raise_request_exception=False).get(f"{path}?offset={offset}")
    assert response.status_code == 400, response.content[:300]
    assert fields_of(response) == ["offset"]


def test_an_offset_at_the_cap_is_an_empty_page():
    listing_make()
    response = APIClient().get(f"{V1}?offset={OFFSET_MAX}")
    assert response.status_code == 200 and response.json()["data"] == []


@pytest.mark.parametrize("currency", ["zzz", "xyz", "XXX"])
def test_a_currency_stripe_does_not_charge_in_is_a_400(currency):
    response = create(currency=currency)
    assert response.status_code == 400 and fields_of(response) == ["currency"]


def test_stripe_currencies_pass():
    assert {"usd", "eur", "gbp", "jpy", "kwd"} <= STRIPE_CURRENCIES
    response = create(currency="EUR")
    assert response.status_code == 201 and response.json()["currency"] == "eur"
