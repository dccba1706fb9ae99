"""POST /api/v1/billing/checkout and /portal, and the developer page's Upgrade / Manage billing
forms: what Stripe is asked (per mode, with which key), what we record, and every refusal."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from marketplace.models import CheckoutSession, PromotionCode, StripeCustomer, Subscription, TierPrice
from tests.api_asserts import assert_api_error
from tests.conftest import post_json
from tests.factories import UserFactory, api_key_for
from tests.marketplace.support import customer_for, prices_synced

CHECKOUT = "/api/v1/billing/checkout"
PORTAL = "/api/v1/billing/portal"


@pytest.fixture
def synced(fake_stripe):
    prices_synced()
    # The fake keeps one store for both modes: the test-mode price is its own object, seeded.
    fake_stripe.put("prices", {"id": "price_test_pro", "product": "levqor_pro", "unit_amount": 1900, "currency": "usd"})
    TierPrice.objects.create(tier="pro", livemode=False, stripe_product_id="levqor_pro",
                             stripe_price_id="price_test_pro", lookup_key="levqor_pro_monthly", amount_minor=1900,
                             currency="usd")
    fake_stripe.requests.clear()
    return fake_stripe


@pytest.mark.django_db
def test_checkout_creates_a_customer_once_and_a_subscription_session(api, synced):
    response = post_json(api, CHECKOUT, {"tier": "pro"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"].startswith("cs_") and body["url"].startswith("https://checkout.stripe.test/")
    customer = synced.last("POST", "/v1/customers")
    assert customer["form"]["email"] == api.user.email
    assert customer["form"]["metadata"] == {"levqor_user_id": str(api.user.pk), "levqor_mode": "live"}
    assert customer["idempotency_key"] == f"levqor-customer-{api.user.pk}-live"
    sent = synced.last("POST", "/v1/checkout/sessions")
    form = sent["form"]
    pro_price = next(p for p in synced.created("prices") if p["lookup_key"] == "levqor_pro_monthly")
    assert form["mode"] == "subscription" and form["customer"] == StripeCustomer.objects.get().stripe_id
    assert form["line_items"] == [{"price": pro_price["id"], "quantity": 1}]
    assert form["client_reference_id"] == str(api.user.pk)
    assert form["metadata"] == {"levqor_user_id": str(api.user.pk), "tier": "pro"}
    assert form["subscription_data"] == {"metadata": {"levqor_user_id": str(api.user.pk), "tier": "pro"}}
    assert form["success_url"].startswith("http") and "/developer?billing=success" in form["success_url"]
    assert "{CHECKOUT_SESSION_ID}" in form["success_url"] and form["cancel_url"].endswith("/developer?billing=cancelled")
    assert form["allow_promotion_codes"] is True and "discounts" not in form
    assert {r["api_key"] for r in synced.requests} == {"sk_live_fake_levqor"}
    row = CheckoutSession.objects.get()
    assert (row.stripe_id, row.user, row.livemode, row.tier, row.status) == (body["id"], api.user, True, "pro", "open")
    # A second checkout reuses the customer.
    assert post_json(api, CHECKOUT, {"tier": "enterprise"}).status_code == 201
    assert len(synced.calls("POST", "/v1/customers")) == 1 and StripeCustomer.objects.count() == 1


@pytest.mark.django_db
def test_a_test_mode_key_uses_only_the_test_key_and_its_own_customer(client_for, synced):
    user, live_raw = api_key_for()
    _, test_raw = api_key_for(user, livemode=False)
    assert post_json(client_for(test_raw), CHECKOUT, {"tier": "pro"}).status_code == 201
    assert {r["api_key"] for r in synced.requests} == {"sk_test_fake_levqor"}
    assert synced.last("POST", "/v1/checkout/sessions")["form"]["line_items"][0]["price"] == "price_test_pro"
    assert CheckoutSession.objects.get().livemode is False
    assert StripeCustomer.objects.get().livemode is False
    synced.requests.clear()
    assert post_json(client_for(live_raw), CHECKOUT, {"tier": "pro"}).status_code == 201
    assert {r["api_key"] for r in synced.requests} == {"sk_live_fake_levqor"}
    assert sorted(StripeCustomer.objects.values_list("livemode", flat=True)) == [False, True]


@pytest.mark.django_db
def test_a_test_mode_key_never_falls_back_to_the_live_key(client_for, synced, settings):
    _, test_raw = api_key_for(livemode=False)
    settings.STRIPE_TEST_SECRET_KEY = ""
    assert_api_error(post_json(client_for(test_raw), CHECKOUT, {"tier": "pro"}), 503, "billing_not_configured")
    settings.STRIPE_TEST_SECRET_KEY = settings.STRIPE_SECRET_KEY  # a live key put in the test setting
    assert_api_error(post_json(client_for(test_raw), CHECKOUT, {"tier": "pro"}), 503, "billing_not_configured")
    assert synced.requests == []


@pytest.mark.django_db
def test_a_promotion_code_is_applied_as_a_discount(api, synced):
    PromotionCode.objects.create(code="LEVQOR-SPRING", percent_off=20, active=True, livemode=True,
                                 stripe_coupon_id="cpn_1", stripe_promotion_code_id="promo_1",
                                 valid_until=timezone.now() + timedelta(days=3))
    assert post_json(api, CHECKOUT, {"tier": "pro", "code": "levqor-spring"}).status_code == 201
    form = synced.last("POST", "/v1/checkout/sessions")["form"]
    assert form["discounts"] == [{"promotion_code": "promo_1"}] and "allow_promotion_codes" not in form
    assert CheckoutSession.objects.get().promotion_code.code == "LEVQOR-SPRING"


@pytest.mark.django_db
@pytest.mark.parametrize("code", [
    dict(code="LEVQOR-OLD", valid_until=timezone.now() - timedelta(seconds=1)),
    dict(code="LEVQOR-OFF", active=False),
    dict(code="LEVQOR-TEST", livemode=False),
    None,
])
def test_unknown_expired_inactive_or_other_mode_codes_are_refused_on_code(api, synced, code):
    if code:
        PromotionCode.objects.create(**{"percent_off": 10, "active": True, "livemode": True,
                                        "stripe_promotion_code_id": "promo_x", **code})
    typed = code["code"] if code else "LEVQOR-NOPE"
    body = assert_api_error(post_json(api, CHECKOUT, {"tier": "pro", "code": typed}), 400, "validation_failed")
    assert [e["field"] for e in body["details"]["errors"]] == ["code"]
    assert not synced.calls("POST", "/v1/checkout/sessions")


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"tier": "sandbox"}, {"tier": "gold"}, {}, {"tier": "pro", "extra": 1}])
def test_bad_input_is_validation_failed(api, synced, body):
    assert_api_error(post_json(api, CHECKOUT, body), 400, "validation_failed")
    assert synced.requests == []


@pytest.mark.django_db
def test_already_subscribed_is_409_with_a_clear_code(api, synced):
    Subscription.objects.create(stripe_id="sub_1", user=api.user, livemode=True, tier="pro", status="active")
    body = assert_api_error(post_json(api, CHECKOUT, {"tier": "pro"}), 409, "already_subscribed")
    assert body["details"]["tier"] == "pro"
    # Another tier: the portal changes the plan, a second subscription would bill twice.
    assert_api_error(post_json(api, CHECKOUT, {"tier": "enterprise"}), 409, "already_subscribed")
    Subscription.objects.update(status="canceled")
    assert post_json(api, CHECKOUT, {"tier": "pro"}).status_code == 201


@pytest.mark.django_db
def test_without_a_synced_price_the_operator_is_told_what_to_run(api, fake_stripe):
    body = assert_api_error(post_json(api, CHECKOUT, {"tier": "pro"}), 503, "billing_not_configured")
    assert "stripe_sync_products" in body["message"]
    assert fake_stripe.requests == []


@pytest.mark.django_db
def test_not_configured_is_503_billing_not_configured(api, settings):
    settings.STRIPE_SECRET_KEY = ""
    assert_api_error(post_json(api, CHECKOUT, {"tier": "pro"}), 503, "billing_not_configured")
    assert_api_error(post_json(api, PORTAL, {}), 409, "no_billing_customer")


@pytest.mark.django_db
def test_stripe_down_is_503_on_checkout_and_portal_never_500(api, synced):
    synced.fail_next(3, status=500)
    response = post_json(api, CHECKOUT, {"tier": "pro"})
    assert_api_error(response, 503, "service_unavailable")
    assert response["Retry-After"] == "30"
    assert not CheckoutSession.objects.exists()
    assert post_json(api, CHECKOUT, {"tier": "pro"}).status_code == 201
    synced.fail_next(3, status=503)
    assert_api_error(post_json(api, PORTAL, {}), 503, "service_unavailable")


@pytest.mark.django_db
def test_an_idempotency_key_is_passed_on_so_a_retry_gets_the_same_session(api, synced):
    first = post_json(api, CHECKOUT, {"tier": "pro"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    again = post_json(api, CHECKOUT, {"tier": "pro"}, HTTP_IDEMPOTENCY_KEY="abc-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    sent = synced.calls("POST", "/v1/checkout/sessions")
    assert [r["idempotency_key"] for r in sent] == [f"levqor-checkout-{api.user.pk}-live-abc-1"] * 2
    assert CheckoutSession.objects.count() == 1 and len(synced.created("checkout/sessions")) == 1


@pytest.mark.django_db
def test_the_portal_opens_for_the_users_own_customer(api, synced):
    assert_api_error(post_json(api, PORTAL, {}), 409, "no_billing_customer")
    other = UserFactory()
    StripeCustomer.objects.create(user=other, livemode=True, stripe_id="cus_other")
    assert_api_error(post_json(api, PORTAL, {}), 409, "no_billing_customer")
    StripeCustomer.objects.create(user=api.user, livemode=True, stripe_id="cus_mine")
    response = post_json(api, PORTAL, {})
    assert response.status_code == 200 and response.json()["url"].startswith("https://stripe.test/")
    sent = synced.last("POST", "/v1/billing_portal/sessions")
    assert sent["form"]["customer"] == "cus_mine" and sent["form"]["return_url"].endswith("/developer")
    assert sent["api_key"] == "sk_live_fake_levqor"


@pytest.mark.django_db
def test_a_key_without_billing_write_is_refused(client_for, synced):
    _, raw = api_key_for(scopes=["jobs:read"])
    body = assert_api_error(post_json(client_for(raw), CHECKOUT, {"tier": "pro"}), 403, "insufficient_scope")
    assert body["details"]["required_scope"] == "billing:write"
    assert_api_error(post_json(client_for(raw), PORTAL, {}), 403, "insufficient_scope")
    assert_api_error(post_json(Client(), CHECKOUT, {"tier": "pro"}), 401, "not_authenticated")


@pytest.mark.django_db
def test_new_keys_hold_billing_write(key_pair):
    from accounts.models import ApiKey
    assert "billing:write" in ApiKey.objects.get().scopes


# --- the developer page -------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_upgrade_form_redirects_to_checkout_and_needs_csrf(synced):
    user = UserFactory(terms_accepted=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/developer")
    assert b'id="upgrade-form"' in page.content and b'action="/billing/upgrade"' in page.content
    assert browser.post("/billing/upgrade", {"tier": "pro"}).status_code == 403  # no CSRF token
    token = page.cookies["csrftoken"].value
    response = browser.post("/billing/upgrade", {"tier": "pro", "csrfmiddlewaretoken": token})
    assert response.status_code == 303
    assert response["Location"] == CheckoutSession.objects.get(user=user).url
    assert synced.last("POST", "/v1/checkout/sessions")["api_key"] == "sk_live_fake_levqor"


@pytest.mark.django_db
def test_the_upgrade_form_shows_a_refusal_on_the_page(synced):
    user = UserFactory(terms_accepted=True)
    browser = Client()
    browser.force_login(user)
    response = browser.post("/billing/upgrade", {"tier": "pro", "code": "NOPE"}, follow=True)
    assert response.redirect_chain[-1][0] == "/developer"
    assert b"promotion code is unknown" in response.content
    response = browser.post("/billing/manage", follow=True)
    assert b"no billing account to manage" in response.content
    assert Client().post("/billing/upgrade", {"tier": "pro"}).status_code == 302  # to the sign-in page


@pytest.mark.django_db
def test_checkout_makes_a_constant_number_of_queries(api, synced, django_assert_max_num_queries):
    assert post_json(api, CHECKOUT, {"tier": "pro"}).status_code == 201  # the customer exists from now on
    CheckoutSession.objects.all().delete()
    with django_assert_max_num_queries(8):
        assert post_json(api, CHECKOUT, {"tier": "pro", "code": ""}).status_code == 201


@pytest.mark.django_db
def test_a_user_whose_grace_ran_out_can_reach_the_billing_portal_from_the_page(synced):
    user = UserFactory(terms_accepted=True, tier="sandbox")  # the grace ran out: sandbox, still past due
    customer_for(user)
    Subscription.objects.create(stripe_id="sub_1", user=user, livemode=True, tier="pro", status="past_due")
    browser = Client()
    browser.force_login(user)
    assert b'id="manage-billing-form"' in browser.get("/developer").content
    response = browser.post("/billing/upgrade", {"tier": "pro"}, follow=True)
    text = response.content.decode()
    assert "last payment of your pro subscription failed" in text and 'id="manage-billing-form"' in text
    assert browser.post("/billing/manage")["Location"] == synced.created("billing_portal/sessions")[-1]["url"]


@pytest.mark.django_db
def test_manage_billing_is_offered_only_to_users_with_a_billing_account(synced):
    user = UserFactory(terms_accepted=True, tier="pro")  # a tier an operator gave, no Stripe customer
    browser = Client()
    browser.force_login(user)
    assert b'id="manage-billing-form"' not in browser.get("/developer").content


@pytest.mark.django_db
def test_a_second_checkout_expires_the_first_so_two_tabs_cannot_both_be_paid(api, synced, client_for):
    first = post_json(api, CHECKOUT, {"tier": "pro"}).json()
    second = post_json(api, CHECKOUT, {"tier": "enterprise"}).json()
    assert first["id"] != second["id"]
    assert synced.last("POST", f"/v1/checkout/sessions/{first['id']}/expire")["api_key"] == "sk_live_fake_levqor"
    assert synced.get("checkout/sessions", first["id"])["status"] == "expired"  # Stripe's page takes no payment
    assert dict(CheckoutSession.objects.values_list("stripe_id", "status")) == {first["id"]: "expired",
                                                                                second["id"]: "open"}
    # the same request retried with its Idempotency-Key gets its session back, still open
    again = post_json(api, CHECKOUT, {"tier": "enterprise"}, HTTP_IDEMPOTENCY_KEY="k1").json()
    replay = post_json(api, CHECKOUT, {"tier": "enterprise"}, HTTP_IDEMPOTENCY_KEY="k1").json()
    assert replay["id"] == again["id"] and CheckoutSession.objects.get(stripe_id=again["id"]).status == "open"
    assert CheckoutSession.objects.filter(status="open").count() == 1
    # another mode's checkout is left alone
    _, test_raw = api_key_for(CheckoutSession.objects.first().user, livemode=False)
    prices_synced(test=True)
    assert post_json(client_for(test_raw), CHECKOUT, {"tier": "pro"}).status_code == 201
    assert CheckoutSession.objects.filter(status="open").count() == 2


@pytest.mark.django_db
def test_stripe_down_while_expiring_the_first_checkout_is_503_and_the_next_start_expires_it(api, synced):
    first = post_json(api, CHECKOUT, {"tier": "pro"}).json()
    # Stripe fails every expire (and the SDK's retries of it), nothing else
    synced.on_request = lambda method, path: synced.fail_next(1, status=503) if path.endswith("/expire") else None
    assert_api_error(post_json(api, CHECKOUT, {"tier": "pro"}), 503, "service_unavailable")
    synced.on_request = None
    assert CheckoutSession.objects.get(stripe_id=first["id"]).status == "open"
    post_json(api, CHECKOUT, {"tier": "pro"})
    assert list(CheckoutSession.objects.filter(status="open").values_list("stripe_id", flat=True)) != [first["id"]]
    assert CheckoutSession.objects.filter(status="open").count() == 1
