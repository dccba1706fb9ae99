"""The adaptive pricing and discounts pages of the admin in a real browser: the current price, the
suggested-vs-actual chart (inline SVG under the admin's Content-Security-Policy: a violation
fails), "Compute now" through its CSRF form, and the discount codes with their redemptions."""

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.browser


def _history():
    from intelligence.services.discounts import discount_daily_run
    from intelligence.services.pricing import price_suggestion_compute
    from marketplace.models import CheckoutSession, TierPrice
    from tests.factories import JobFactory, UserFactory

    now = timezone.now()
    TierPrice.objects.create(tier="pro", livemode=True, stripe_product_id="prod_pro", stripe_price_id="price_old",
                             lookup_key="levqor_pro_monthly", amount_minor=1900, currency="usd", active=False,
                             created_at=now - timedelta(days=150))
    TierPrice.objects.create(tier="pro", livemode=True, stripe_product_id="prod_pro", stripe_price_id="price_new",
                             lookup_key="levqor_pro_monthly", amount_minor=2450, currency="usd", source="pricing",
                             created_at=now - timedelta(days=60))
    owner = UserFactory()
    for months_ago, runs in ((4, 400), (3, 700), (2, 900), (1, 1200)):
        at = now - timedelta(days=30 * months_ago)
        JobFactory._meta.model.objects.bulk_create(JobFactory.build(owner=owner, created_at=at - timedelta(days=1))
                                                   for _ in range(runs))
        price_suggestion_compute(now=at)
    today = discount_daily_run(now=now)
    discount_daily_run(now=now - timedelta(days=1))
    CheckoutSession.objects.create(stripe_id="cs_test_browser", user=UserFactory(email="paid@example.com"),
                                   livemode=True, tier="pro", promotion_code=today.promotion_code,
                                   status="complete", completed_at=now)
    return today


def test_an_operator_reads_the_pricing_and_discounts_pages_and_computes_a_price(page, screenshot, settings):
    from accounts.models import User
    from intelligence.models import PriceSuggestion

    settings.STRIPE_SECRET_KEY = ""  # not configured: the page says so, nothing leaves the machine
    today = _history()
    User.objects.create_superuser("ops@example.com", "a long test password")
    page.goto("/admin/login/?next=/admin/intelligence/pricesuggestion/")
    page.fill("input[name=username]", "ops@example.com")
    page.fill("input[name=password]", "a long test password")
    page.click("input[type=submit]")
    page.wait_for_url("**/pricesuggestion/")
    page.click("#toggle-nav-sidebar")  # the whole table in view (remembered for the next pages)
    assert "24.50 USD" in page.text_content("#pricing-current")
    assert "Not configured" in page.text_content("#pricing-stripe")
    assert page.locator("#figure-price svg polyline").count() == 2  # suggested and actual
    assert page.locator("#result_list tbody tr").count() == 4
    screenshot("pricing-page")

    page.click("#pricing-compute input[type=submit]")
    page.wait_for_selector(".messagelist .info, .messagelist li")
    assert "Suggested" in page.text_content(".messagelist")
    assert page.locator("#result_list tbody tr").count() == 5
    assert PriceSuggestion.objects.filter(created_by__email="ops@example.com").count() == 1
    screenshot("pricing-computed")

    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto("/admin/intelligence/discountsuggestion/")
    rows = page.text_content("#result_list")
    assert today.promotion_code.code in rows and "paid@example.com" in rows and "low_signups" in rows
    screenshot("discounts-page")
