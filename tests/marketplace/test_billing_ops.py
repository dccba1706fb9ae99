"""What operators see and use: /billing/health from real state (no secret), the billing line of
/status, the admin pages with "process again", the personal data sections, and the scope
migration of existing keys."""

import importlib
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_q.brokers import get_broker

from accounts.personal_data import personal_data_erase, personal_data_export
from marketplace.models import CheckoutSession, PromotionCode, StripeEvent, Subscription, TierPrice
from marketplace.tasks import subscriptions_cancel_sweep
from tests.factories import UserFactory
from tests.jobs.support import tasks_drain
from tests.marketplace.support import customer_for, prices_synced


def _event(pk, *, status="processed", type="invoice.paid", error="", ago=timedelta(0)):
    return StripeEvent.objects.create(id=pk, type=type, livemode=True, created=1, payload={}, status=status,
                                      last_error=error, received_at=timezone.now() - ago,
                                      processed_at=timezone.now() - ago if status != "received" else None)


@pytest.mark.django_db
def test_health_when_nothing_is_configured_says_so(settings, django_assert_max_num_queries):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_TEST_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRETS = []
    with django_assert_max_num_queries(4):
        response = Client().get("/billing/health")
    body = response.json()
    assert response.status_code == 503  # the original contract: 503 when not healthy
    assert body == {"healthy": False, "problems": ["STRIPE_SECRET_KEY is not set", "STRIPE_WEBHOOK_SECRET is not set"],
                    "stripe_key_configured": False, "live_key_configured": False, "live_key_is_test_key": False,
                    "test_key_configured": False,
                    "webhook_secret_configured": False, "last_webhook_received_at": None,
                    "events_24h": {"received": 0, "processed": 0, "ignored": 0, "failed": 0}, "last_failure": None,
                    "tier_prices_synced": {"live": {"pro": False, "enterprise": False},
                                           "test": {"pro": False, "enterprise": False}}}


@pytest.mark.django_db
def test_health_reports_real_state_and_never_a_secret(fake_stripe, operator):
    prices_synced()
    _event("evt_old", ago=timedelta(hours=30))
    _event("evt_1")
    _event("evt_2", status="ignored")
    _event("evt_3", status="failed", type="invoice.paid", error="AppError: Stripe is failing right now")
    response = Client().get("/billing/health")
    body = response.json()
    # a failure in the last 24 h: not healthy, 503, and the body says why
    assert response.status_code == 503 and body["healthy"] is False
    assert body["problems"] == ["a Stripe event failed in the last 24 h (see last_failure)"]
    assert body["stripe_key_configured"] is True
    assert body["live_key_configured"] and body["test_key_configured"] and body["webhook_secret_configured"]
    assert body["events_24h"] == {"received": 0, "processed": 1, "ignored": 1, "failed": 1}
    assert body["last_failure"]["event"] == "evt_3" and body["last_failure"]["type"] == "invoice.paid"
    assert "error" not in body["last_failure"]  # the error text is for staff
    assert body["tier_prices_synced"]["live"] == {"pro": True, "enterprise": True}
    assert body["tier_prices_synced"]["test"] == {"pro": False, "enterprise": False}
    assert body["last_webhook_received_at"] is not None
    for secret in ("sk_live_fake_levqor", "sk_test_fake_levqor", "whsec_test_levqor_fake"):
        assert secret not in response.content.decode()
    assert operator.get("/billing/health").json()["last_failure"]["error"].startswith("AppError")
    assert Client().post("/billing/health").status_code == 405


@pytest.mark.django_db
def test_health_is_healthy_with_keys_a_webhook_secret_and_no_recent_failure(fake_stripe):
    _event("evt_f", status="failed", error="boom", ago=timedelta(hours=25))  # older than the window
    response = Client().get("/billing/health")
    body = response.json()
    assert response.status_code == 200
    assert (body["healthy"], body["problems"], body["stripe_key_configured"], body["webhook_secret_configured"]) == (
        True, [], True, True)
    _event("evt_g", status="failed", error="boom")
    assert Client().get("/billing/health").status_code == 503


@pytest.mark.django_db
def test_status_has_a_billing_line(settings):
    settings.STRIPE_SECRET_KEY = ""
    assert Client().get("/status").json()["info"]["billing"] == {"configured": False, "details": "/billing/health"}
    settings.STRIPE_SECRET_KEY = "sk_live_x"
    info = Client().get("/status").json()["info"]["billing"]
    assert info["configured"] is True and "sk_live_x" not in str(info)


@pytest.mark.django_db
def test_admin_pages_and_process_again(operator, fake_stripe, django_capture_on_commit_callbacks):
    user = UserFactory()
    customer_for(user)
    Subscription.objects.create(stripe_id="sub_1", user=user, tier="pro", status="active")
    prices_synced()
    code = PromotionCode.objects.create(code="LEVQOR-A", percent_off=10, active=True)
    for i, status in enumerate(["complete", "complete", "open"]):
        CheckoutSession.objects.create(stripe_id=f"cs_{i}", user=user, promotion_code=code, status=status)
    failed = _event("evt_f", status="failed", type="customer.created", error="boom")
    for model in ("stripeevent", "subscription", "stripecustomer", "tierprice", "checkoutsession", "promotioncode"):
        response = operator.get(reverse(f"admin:marketplace_{model}_changelist"))
        assert response.status_code == 200, model
    page = operator.get(reverse("admin:marketplace_promotioncode_changelist")).content.decode()
    assert '<td class="field-redemptions">2</td>' in page
    assert operator.get(reverse("admin:marketplace_stripeevent_changelist") + "?status__exact=failed").status_code == 200
    assert operator.get(reverse("admin:marketplace_stripeevent_change", args=["evt_f"])).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(reverse("admin:marketplace_stripeevent_changelist"),
                      {"action": "process_again", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == ("received", 0, "")
    tasks_drain()
    failed.refresh_from_db()
    assert failed.status == "ignored" and failed.attempts == 1
    assert not TierPrice.objects.filter(active=False).exists()


@pytest.mark.django_db
def test_personal_data_export_and_erase_keep_the_money_records(fake_stripe, django_capture_on_commit_callbacks):
    user = UserFactory()
    customer_for(user, stripe_id="cus_1")
    fake_stripe.put("subscriptions", {"id": "sub_1", "customer": "cus_1", "status": "active"})
    fake_stripe.put("subscriptions", {"id": "sub_t", "customer": "cus_t", "status": "active"})
    Subscription.objects.create(stripe_id="sub_1", user=user, tier="pro", status="active")
    Subscription.objects.create(stripe_id="sub_t", user=user, tier="pro", status="active", livemode=False)
    Subscription.objects.create(stripe_id="sub_old", user=user, tier="pro", status="canceled")
    CheckoutSession.objects.create(stripe_id="cs_1", user=user, tier="pro", url="https://checkout.stripe.test/cs_1")
    billing = personal_data_export(user=user)["billing"]
    assert [c["stripe_id"] for c in billing["stripe_customers"]] == ["cus_1"]
    assert billing["subscriptions"][0]["tier"] == "pro" and billing["checkout_sessions"][0]["stripe_id"] == "cs_1"
    with django_capture_on_commit_callbacks(execute=True):
        personal_data_erase(user=user, actor=user, ip=None)
    assert CheckoutSession.objects.get().url == ""
    assert Subscription.objects.filter(stripe_id="sub_1").exists()  # what was bought and paid stays
    # ... but an erased person is never charged again: what still bills is cancelled at Stripe.
    tasks_drain()
    cancels = {r["path"]: r["api_key"] for r in fake_stripe.calls("DELETE")}
    assert cancels == {"/v1/subscriptions/sub_1": "sk_live_fake_levqor", "/v1/subscriptions/sub_t": "sk_test_fake_levqor"}
    assert set(Subscription.objects.values_list("stripe_id", "status")) == {
        ("sub_1", "canceled"), ("sub_t", "canceled"), ("sub_old", "canceled")}  # confirmed: not tried again
    assert subscriptions_cancel_sweep() == 0 and len(fake_stripe.calls("DELETE")) == 2


def _erased_with(fake_stripe, capture, *subscriptions):
    user = UserFactory()
    for stripe_id, livemode in subscriptions:
        fake_stripe.put("subscriptions", {"id": stripe_id, "customer": "cus_1", "status": "active"})
        Subscription.objects.create(stripe_id=stripe_id, user=user, tier="pro", status="active", livemode=livemode)
    with capture(execute=True):  # the erasure commits, its task is queued
        personal_data_erase(user=user, actor=user, ip=None)
    return user


@pytest.mark.django_db
def test_erasure_cancels_until_stripe_confirms_when_stripe_is_down(fake_stripe, django_capture_on_commit_callbacks):
    _erased_with(fake_stripe, django_capture_on_commit_callbacks, ("sub_1", True))
    assert Subscription.objects.get().cancel_requested_at is not None  # marked in the erasure's transaction
    fake_stripe.fail_next(3, status=503)
    tasks_drain()  # the task at once: Stripe down (the task is not retried by django-q)
    subscription = Subscription.objects.get()
    assert subscription.status == "active" and "not cancelled yet" in subscription.cancel_error
    assert subscriptions_cancel_sweep() == 1  # the sweep tries again
    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancel_error) == ("canceled", "")
    assert fake_stripe.get("subscriptions", "sub_1") is None  # cancelled at Stripe (the fake deletes it)
    assert fake_stripe.last("DELETE", "/v1/subscriptions/sub_1")["api_key"] == "sk_live_fake_levqor"


@pytest.mark.django_db
def test_a_lost_erasure_task_is_made_up_by_the_sweep(fake_stripe, django_capture_on_commit_callbacks):
    _erased_with(fake_stripe, django_capture_on_commit_callbacks, ("sub_1", True))
    get_broker().purge_queue()  # the enqueue was lost
    assert subscriptions_cancel_sweep() == 1
    assert fake_stripe.get("subscriptions", "sub_1") is None  # cancelled at Stripe (the fake deletes it)
    assert fake_stripe.last("DELETE", "/v1/subscriptions/sub_1")["api_key"] == "sk_live_fake_levqor"


@pytest.mark.django_db
def test_a_test_mode_subscription_without_a_test_key_does_not_stop_the_live_cancel(fake_stripe, settings,
                                                                                   django_capture_on_commit_callbacks):
    settings.STRIPE_TEST_SECRET_KEY = ""
    _erased_with(fake_stripe, django_capture_on_commit_callbacks, ("sub_t", False), ("sub_l", True))
    tasks_drain()
    assert fake_stripe.get("subscriptions", "sub_l") is None  # cancelled at Stripe (the fake deletes it)
    assert fake_stripe.last("DELETE", "/v1/subscriptions/sub_l")["api_key"] == "sk_live_fake_levqor"
    test_mode = Subscription.objects.get(stripe_id="sub_t")
    assert test_mode.status == "active" and "no test Stripe key" in test_mode.cancel_error  # recorded, kept
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_fake_levqor"
    assert subscriptions_cancel_sweep() == 1
    assert Subscription.objects.get(stripe_id="sub_t").status == "canceled"


@pytest.mark.django_db
def test_the_scope_migration_gives_full_keys_billing_write_and_leaves_narrow_ones():
    from django.apps import apps

    from accounts.models import ApiKey
    from tests.factories import api_key_for

    full_scopes = ["jobs:read", "jobs:write", "users:read", "users:write", "webhooks:read", "webhooks:write",
                   "partners:read", "partners:write"]
    api_key_for(scopes=full_scopes, name="full")
    api_key_for(scopes=["jobs:read"], name="narrow")
    migration = importlib.import_module("accounts.migrations.0009_billing_scope")
    migration.widen(apps, None)
    assert "billing:write" in ApiKey.objects.get(name="full").scopes
    assert ApiKey.objects.get(name="narrow").scopes == ["jobs:read"]


@pytest.mark.django_db
def test_the_page_policy_lets_billing_forms_redirect_to_stripe():
    browser = Client()
    browser.force_login(UserFactory(terms_accepted=True))
    page = browser.get("/developer")
    assert page.status_code == 200
    policy = page["Content-Security-Policy"]
    form_action = next(d for d in policy.split(";") if d.strip().startswith("form-action"))
    assert form_action.split()[1:] == ["'self'", "https://checkout.stripe.com", "https://billing.stripe.com"]
    # Every other page keeps form-action to ourselves.
    other = browser.get("/account")["Content-Security-Policy"]
    assert next(d for d in other.split(";") if d.strip().startswith("form-action")).split()[1:] == ["'self'"]


def test_the_prices_admin_shows_each_amount_in_its_currencys_decimals(operator):
    TierPrice.objects.create(tier="pro", livemode=True, stripe_product_id="prod_1", stripe_price_id="price_jpy",
                             lookup_key="levqor_pro_jpy", amount_minor=2900, currency="jpy")
    TierPrice.objects.create(tier="enterprise", livemode=True, stripe_product_id="prod_2", stripe_price_id="price_usd",
                             lookup_key="levqor_enterprise", amount_minor=19900, currency="usd")
    page = operator.get(reverse("admin:marketplace_tierprice_changelist")).content.decode()
    assert "2900 JPY" in page and "199.00 USD" in page
    assert str(TierPrice.objects.get(currency="jpy")) == "pro 2900 JPY (price_jpy)"
