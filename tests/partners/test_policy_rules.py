"""Each policy rule enforced at its named place (README, Governance: the rules table). The
suspend_* rules are proved in test_auto_suspend.py; the rules other parts enforce name their
tests in the table. Here: the listing price range, what the webhook engine is told (timeout,
failures before disabling), and https for webhook URLs."""

import pytest
from django.conf import settings

from levqor.errors import AppError
from levqor.webhooks.policy import webhook_https_required, webhook_policy
from partners.services import policy as policy_service
from partners.services.policy import policy_listing_price_check, policy_version_create, policy_webhook_policy
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


@pytest.mark.parametrize("amount", [0, 1, 50_00, 99_999])
def test_a_listing_price_in_the_range_passes(amount):
    policy_listing_price_check(amount_minor=amount)


@pytest.mark.parametrize("amount", [-1, 100_000, 10**9, "100", 10.5, True, None])
def test_a_listing_price_outside_the_range_is_refused_naming_the_range(amount):
    with pytest.raises(AppError) as refused:
        policy_listing_price_check(amount_minor=amount)
    error = refused.value
    assert error.code == "validation_failed" and error.status == 400
    assert "between 0 and 99999" in error.message
    assert (error.details["min_minor"], error.details["max_minor"], error.details["policy_version"]) == (0, 99999, 1)
    assert [e["field"] for e in error.details["errors"]] == ["amount_minor"]


def test_a_new_version_moves_the_listing_price_range(staff):
    policy_version_create(actor=staff, reason="No free listings; premium tier", listing_price_min_minor=100,
                          listing_price_max_minor=500_000)
    policy_listing_price_check(amount_minor=250_000)
    for amount in (99, 500_001):
        with pytest.raises(AppError) as refused:
            policy_listing_price_check(amount_minor=amount)
        assert "between 100 and 500000" in refused.value.message and refused.value.details["policy_version"] == 2


def test_the_engine_is_told_the_policys_timeout_and_failures_before_disabling(staff):
    assert webhook_policy() == policy_webhook_policy()  # the provider PartnersConfig.ready() registered
    told = webhook_policy()
    assert (told.timeout_seconds, told.disable_after_failures, told.https_required) == (5.0, 10, True)

    policy_version_create(actor=staff, reason="Slow receivers; fail fast", webhook_timeout_seconds=12,
                          suspend_failed_webhooks=3)
    policy_service.reset()  # as every other process finds it within the cache's few seconds
    told = webhook_policy()
    assert (told.timeout_seconds, told.disable_after_failures) == (12.0, 3)


def test_the_policy_is_read_from_the_cache_until_reset(staff, django_assert_num_queries):
    policy_service.policy_current()
    with django_assert_num_queries(0):  # read on every webhook attempt: from memory
        webhook_policy()
        webhook_policy()


def test_https_is_required_for_webhook_urls_in_production_by_the_policy(settings, staff):
    settings.WEBHOOK_HTTPS_ONLY = True
    assert webhook_https_required() is True
    policy_version_create(actor=staff, reason="Internal test network only", https_required=False)
    policy_service.reset()
    assert webhook_https_required() is False
    policy_version_create(actor=staff, reason="Back to https", https_required=True)
    settings.WEBHOOK_HTTPS_ONLY = False  # tests and local runs: fake receivers on http://127.0.0.1
    assert webhook_https_required() is False


def test_tests_run_with_http_receivers_allowed():
    assert settings.WEBHOOK_HTTPS_ONLY is False
