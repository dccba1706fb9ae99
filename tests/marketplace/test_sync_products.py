"""manage.py stripe_sync_products: each paid tier's Product and monthly Price found or created by
lookup key, recorded as TierPrice; safe to run again; a differing price is reported, not replaced."""

import io

import pytest
from django.core.management import CommandError, call_command

from marketplace.models import TierPrice


def _sync(*args) -> str:
    out = io.StringIO()
    call_command("stripe_sync_products", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_first_run_creates_each_tier_with_the_live_key_and_records_it(fake_stripe):
    out = _sync()
    prices = {p["lookup_key"]: p for p in fake_stripe.created("prices")}
    assert set(prices) == {"levqor_pro_monthly", "levqor_enterprise_monthly"}
    assert prices["levqor_pro_monthly"]["unit_amount"] == 1900 and prices["levqor_pro_monthly"]["currency"] == "usd"
    assert prices["levqor_enterprise_monthly"]["unit_amount"] == 19900
    assert prices["levqor_pro_monthly"]["recurring"] == {"interval": "month"}
    assert {p["id"] for p in fake_stripe.created("products")} == {"levqor_pro", "levqor_enterprise"}
    assert {r["api_key"] for r in fake_stripe.requests} == {"sk_live_fake_levqor"}
    assert all(r["idempotency_key"].startswith("levqor-") for r in fake_stripe.calls("POST"))
    rows = {t.tier: t for t in TierPrice.objects.filter(active=True, livemode=True)}
    assert rows["pro"].stripe_price_id == prices["levqor_pro_monthly"]["id"] and rows["pro"].amount_minor == 1900
    assert rows["enterprise"].stripe_product_id == "levqor_enterprise"
    assert "pro (live): created" in out and "enterprise (live): created" in out


@pytest.mark.django_db
def test_a_second_run_finds_everything_and_creates_nothing(fake_stripe):
    _sync()
    posts = len(fake_stripe.calls("POST"))
    out = _sync()
    assert len(fake_stripe.calls("POST")) == posts
    assert "pro (live): found" in out and "enterprise (live): found" in out
    assert TierPrice.objects.count() == 2


@pytest.mark.django_db
def test_test_mode_uses_only_the_test_key(fake_stripe):
    out = _sync("--test")
    assert {r["api_key"] for r in fake_stripe.requests} == {"sk_test_fake_levqor"}
    assert set(TierPrice.objects.values_list("livemode", flat=True)) == {False}
    assert "pro (test): created" in out


@pytest.mark.django_db
def test_a_price_that_differs_from_the_setting_is_reported_not_replaced(fake_stripe, settings):
    fake_stripe.put("products", {"id": "levqor_pro", "name": "Levqor Pro"})
    fake_stripe.put("prices", {"id": "price_old", "product": "levqor_pro", "unit_amount": 1500, "currency": "usd",
                               "lookup_key": "levqor_pro_monthly", "active": True})
    with pytest.raises(CommandError, match="pro"):
        _sync()
    assert not TierPrice.objects.filter(tier="pro").exists()
    assert not [p for p in fake_stripe.created("prices") if p["lookup_key"] == "levqor_pro_monthly"
                and p["id"] != "price_old"]
    assert TierPrice.objects.filter(tier="enterprise", active=True).exists()  # the other tier still synced


@pytest.mark.django_db
def test_not_configured_says_so_and_exits_non_zero(fake_stripe, settings):
    settings.STRIPE_SECRET_KEY = ""
    with pytest.raises(CommandError, match="STRIPE_SECRET_KEY is not set"):
        _sync()
    assert fake_stripe.requests == []


@pytest.mark.django_db
def test_stripe_down_is_an_error_not_a_traceback(fake_stripe):
    fake_stripe.fail_next(10, status=500)
    with pytest.raises(CommandError, match="service_unavailable"):
        _sync()
