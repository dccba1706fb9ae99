"""The pricing and discounts pages of the admin: staff only, CSRF on every action, compute now,
apply / dismiss (audited: who, when, the admin log), activate / deactivate discount codes, and the
redemptions (completed checkouts with the code) listed with constant queries."""

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from intelligence.models import DiscountSuggestion, PriceSuggestion
from intelligence.services.discounts import discount_daily_run
from intelligence.services.pricing import price_suggestion_compute
from marketplace.models import CheckoutSession, TierPrice
from tests.factories import JobFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICES = "admin:intelligence_pricesuggestion_changelist"
DISCOUNTS = "admin:intelligence_discountsuggestion_changelist"
COMPUTE = "admin:intelligence_pricesuggestion_compute"


def _messages(response) -> str:
    return " ".join(str(m) for m in get_messages(response.wsgi_request))


def _action(client, url_name, action, pks):
    return client.post(reverse(url_name), {"action": action, "_selected_action": [str(pk) for pk in pks]}, follow=True)


def test_the_pages_are_staff_only(client, django_user_model):
    for name in (PRICES, DISCOUNTS):
        assert client.get(reverse(name)).status_code == 302  # to the admin's sign-in
    client.force_login(UserFactory())  # a customer
    for name in (PRICES, DISCOUNTS):
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post(reverse(COMPUTE)).status_code == 302
    assert not PriceSuggestion.objects.exists()


def test_actions_need_the_csrf_token(django_user_model):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(django_user_model.objects.create_superuser("csrf@levqor.test", "a-long-operator-password"))
    assert browser.post(reverse(COMPUTE)).status_code == 403
    suggestion = price_suggestion_compute()
    response = browser.post(reverse(PRICES), {"action": "dismiss_suggestions", "_selected_action": [suggestion.pk]})
    assert response.status_code == 403
    suggestion.refresh_from_db()
    assert suggestion.status == "suggested" and not PriceSuggestion.objects.exclude(pk=suggestion.pk).exists()


def test_compute_now_suggests_from_real_rows_and_applies_nothing(operator, fake_stripe):
    assert operator.get(reverse(COMPUTE)).status_code == 405
    owner = UserFactory()
    JobFactory._meta.model.objects.bulk_create(JobFactory.build(owner=owner) for _ in range(1000))
    response = operator.post(reverse(COMPUTE), follow=True)
    suggestion = PriceSuggestion.objects.get()
    assert (suggestion.trigger, suggestion.created_by, suggestion.suggested_minor) == ("admin", operator.user, 2850)
    assert "Suggested 28.50 USD (now 19.00 USD) from 1000 runs, p95 none (no traffic)" in _messages(response)
    assert fake_stripe.requests == []
    page = response.content.decode()
    assert 'id="pricing-compute"' in page and "28.50 USD" in page and "<svg" in page
    assert LogEntry.objects.filter(object_id=str(suggestion.pk)).exists()


def _synced(fake_stripe):
    fake_stripe.put("prices", {"id": "price_pro_sync", "product": "prod_pro", "unit_amount": 1900,
                               "currency": "usd", "lookup_key": "levqor_pro_monthly"})
    return TierPrice.objects.create(tier="pro", livemode=True, stripe_product_id="prod_pro",
                                    stripe_price_id="price_pro_sync", lookup_key="levqor_pro_monthly",
                                    amount_minor=1900, currency="usd")


def test_an_operator_applies_a_suggestion_and_it_is_audited(operator, fake_stripe):
    _synced(fake_stripe)
    JobFactory._meta.model.objects.bulk_create(JobFactory.build(owner=UserFactory()) for _ in range(1000))
    suggestion = price_suggestion_compute()
    response = _action(operator, PRICES, "apply_suggestion", [suggestion.pk])
    suggestion.refresh_from_db()
    assert suggestion.status == "applied" and suggestion.decided_by == operator.user and suggestion.decided_at
    assert "Applied by an operator" in _messages(response)
    assert TierPrice.objects.get(active=True).amount_minor == 2850
    assert fake_stripe.last("POST", "/v1/prices")["form"]["unit_amount"] == 2850
    assert LogEntry.objects.filter(object_id=str(suggestion.pk), change_message__contains="Applied").exists()
    page = operator.get(reverse(PRICES)).content.decode()
    assert "28.50 USD" in page and "stripe price" in page
    detail = operator.get(reverse("admin:intelligence_pricesuggestion_change", args=[suggestion.pk]))
    assert detail.status_code == 200 and "levqor_pro_monthly" not in detail.content.decode()
    assert '"runs": 1000' in detail.content.decode() or "&quot;runs&quot;: 1000" in detail.content.decode()

    response = _action(operator, PRICES, "apply_suggestion", [suggestion.pk])  # once only
    assert "applied already" in _messages(response)
    assert len(fake_stripe.calls("POST", "/v1/prices")) == 1


def test_applying_without_stripe_says_billing_is_not_configured(operator, settings):
    settings.STRIPE_SECRET_KEY = ""
    JobFactory._meta.model.objects.bulk_create(JobFactory.build(owner=UserFactory()) for _ in range(1000))
    suggestion = price_suggestion_compute()
    response = _action(operator, PRICES, "apply_suggestion", [suggestion.pk])
    assert "Not applied: Billing is not configured" in _messages(response)
    suggestion.refresh_from_db()
    assert suggestion.status == "suggested"
    assert "Not configured" in response.content.decode()


def test_dismiss_and_then_apply_is_refused(operator, fake_stripe):
    suggestion = price_suggestion_compute()
    response = _action(operator, PRICES, "dismiss_suggestions", [suggestion.pk])
    suggestion.refresh_from_db()
    assert suggestion.status == "dismissed" and suggestion.decided_by == operator.user
    assert "Dismissed 1." in _messages(response)
    response = _action(operator, PRICES, "apply_suggestion", [suggestion.pk])
    assert "was dismissed already" in _messages(response) and fake_stripe.requests == []


def _discounts(days: int) -> list[DiscountSuggestion]:
    now = timezone.now()
    return [discount_daily_run(now=now - timedelta(days=day)) for day in range(days)]


def _redeem(suggestion, user, *, status=CheckoutSession.Status.COMPLETE, n=[0]):  # noqa: B006
    n[0] += 1
    CheckoutSession.objects.create(stripe_id=f"cs_test_{n[0]}", user=user, livemode=True, tier="pro",
                                   promotion_code=suggestion.promotion_code, status=status,
                                   completed_at=timezone.now() if status == "complete" else None)


def test_the_discounts_page_lists_codes_with_their_redemptions_in_constant_queries(
        operator, fake_stripe, django_assert_max_num_queries):
    [today, yesterday] = _discounts(2)
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    _redeem(today, alice)
    _redeem(today, bob)
    _redeem(today, UserFactory(email="carol@example.com"), status=CheckoutSession.Status.OPEN)  # not redeemed
    with django_assert_max_num_queries(12) as few:
        page = operator.get(reverse(DISCOUNTS)).content.decode()
    for suggestion in (today, yesterday):
        assert suggestion.promotion_code.code in page
    assert "alice@example.com, bob@example.com" in page and "carol@example.com" not in page
    assert "low_signups" in page and "15 %" in page
    _discounts(6)
    with django_assert_max_num_queries(len(few.captured_queries)):
        operator.get(reverse(DISCOUNTS))


def test_an_operator_activates_and_deactivates_codes(operator, fake_stripe):
    [suggestion] = _discounts(1)
    assert suggestion.status == "suggested"
    response = _action(operator, DISCOUNTS, "activate_discounts", [suggestion.pk])
    suggestion.refresh_from_db()
    assert suggestion.status == "active" and suggestion.promotion_code.active and suggestion.decided_by == operator.user
    assert f"Activated: {suggestion.promotion_code.code}." in _messages(response)
    assert fake_stripe.get("promotion_codes", suggestion.promotion_code.stripe_promotion_code_id)["active"] is True
    response = _action(operator, DISCOUNTS, "deactivate_discounts", [suggestion.pk])
    suggestion.refresh_from_db()
    assert suggestion.status == "inactive" and not suggestion.promotion_code.active
    assert fake_stripe.get("promotion_codes", suggestion.promotion_code.stripe_promotion_code_id)["active"] is False
    assert LogEntry.objects.filter(object_id=str(suggestion.pk)).count() == 2
    detail = operator.get(reverse("admin:intelligence_discountsuggestion_change", args=[suggestion.pk]))
    assert detail.status_code == 200 and suggestion.promotion_code.code in detail.content.decode()


def test_the_operator_api_lists_the_price_suggestions_and_discounts(client_for, fake_stripe,
                                                                     django_assert_max_num_queries):
    from tests.factories import api_key_for

    _synced(fake_stripe)
    suggestion = price_suggestion_compute()
    [today] = _discounts(1)
    _redeem(today, UserFactory())
    _, raw = api_key_for(scopes=["admin:read"])
    api = client_for(raw)
    with django_assert_max_num_queries(12):
        body = api.get("/api/v1/intelligence/pricing").json()
    assert body["current"] == {"amount_minor": 1900, "currency": "usd", "source": "stripe price price_pro_sync"}
    assert (body["auto_apply"], body["stripe_configured"]) == (False, True)
    [listed] = body["suggestions"]
    assert (listed["id"], listed["suggested_minor"], listed["inputs"]["runs"]) == (suggestion.pk, 950, 0)
    with django_assert_max_num_queries(12):
        [discount] = api.get("/api/v1/intelligence/discounts").json()["discounts"]
    assert (discount["code"], discount["reason"], discount["redemptions"], discount["honoured"]) == (
        today.promotion_code.code, "low_signups", 1, False)
    _, customer = api_key_for()
    for path in ("/api/v1/intelligence/pricing", "/api/v1/intelligence/discounts"):
        response = client_for(customer).get(path)
        assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
        assert Client().get(path).status_code == 401
