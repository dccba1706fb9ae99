"""The fake Stripe API answers the real SDK in Stripe's shapes (the other billing tests lean on it)."""

import pytest
import stripe

from levqor.errors import AppError
from marketplace.stripe_api import stripe_client, stripe_errors
from tests.conftest import STRIPE_TEST_WEBHOOK_SECRET
from tests.fake_stripe import form_decode, stripe_event, stripe_webhook_body


def test_form_decoding_nests_like_stripe():
    assert form_decode([("line_items[0][price]", "price_1"), ("line_items[0][quantity]", "1"),
                        ("metadata[user_id]", "42"), ("expand[]", "a"), ("expand[]", "b"),
                        ("subscription_data[metadata][tier]", "pro"), ("allow_promotion_codes", "true")]) == {
        "line_items": [{"price": "price_1", "quantity": 1}], "metadata": {"user_id": "42"}, "expand": ["a", "b"],
        "subscription_data": {"metadata": {"tier": "pro"}}, "allow_promotion_codes": True}


def test_the_sdk_creates_lists_and_expands_against_the_fake(fake_stripe):
    client = stripe_client(livemode=True)
    product = client.v1.products.create(params={"name": "Pro"})
    price = client.v1.prices.create(params={"product": product.id, "unit_amount": 1900, "currency": "usd",
                                            "recurring": {"interval": "month"}, "lookup_key": "levqor_pro"},
                                    options={"idempotency_key": "k1"})
    again = client.v1.prices.create(params={"product": product.id, "unit_amount": 1900, "currency": "usd",
                                            "lookup_key": "levqor_pro"}, options={"idempotency_key": "k1"})
    assert again.id == price.id and price.unit_amount == 1900
    assert [p.id for p in client.v1.prices.list(params={"lookup_keys": ["levqor_pro"]}).data] == [price.id]
    fake_stripe.put("balance_transactions", {"id": "txn_1", "amount": 1900, "fee": 85, "currency": "usd"})
    fake_stripe.put("charges", {"id": "ch_1", "amount": 1900, "balance_transaction": "txn_1"})
    charge = client.v1.charges.retrieve("ch_1", params={"expand": ["balance_transaction"]})
    assert charge.balance_transaction.fee == 85
    assert fake_stripe.last("POST", "/v1/prices")["api_key"] == "sk_live_fake_levqor"


def test_stripe_failures_become_our_errors(fake_stripe, settings):
    fake_stripe.fail_next(3, status=500)
    with pytest.raises(AppError) as failing, stripe_errors():
        stripe_client().v1.customers.create(params={"email": "a@example.com"})
    assert failing.value.code == "service_unavailable"
    with pytest.raises(AppError) as refused, stripe_errors():
        stripe_client().v1.customers.retrieve("cus_missing")
    assert refused.value.code == "billing_provider_error" and refused.value.details["stripe_code"] == "resource_missing"
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(AppError) as unreachable, stripe_errors():
        stripe_client().v1.customers.create(params={"email": "a@example.com"})
    assert unreachable.value.code == "service_unavailable"
    settings.STRIPE_TEST_SECRET_KEY = ""
    with pytest.raises(AppError) as off:
        stripe_client(livemode=False)
    assert off.value.code == "billing_not_configured"


def test_webhook_bodies_are_signed_as_stripe_signs_them():
    body, header = stripe_webhook_body(stripe_event("invoice.paid", {"id": "in_1"}), STRIPE_TEST_WEBHOOK_SECRET)
    event = stripe.Webhook.construct_event(body, header, STRIPE_TEST_WEBHOOK_SECRET)
    assert event.type == "invoice.paid"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, "whsec_other")
