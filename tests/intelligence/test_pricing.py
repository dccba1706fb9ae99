"""Adaptive pricing (issue 11 §3): the reference formula (original-behaviour.md §4) with its example
and edges, fed from real rows (jobs, ledger entries, metric rows); the monthly run suggests, and
with PRICING_AUTO_APPLY on publishes the pro tier's new Stripe Price for new subscriptions (the
fake Stripe asserts what it received; no subscription is touched), held under stabilize mode."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from waffle.models import Flag, Switch

from intelligence import tasks
from intelligence.models import HeldAction, PriceSuggestion
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.ledger import ledger_entry_record
from intelligence.services.pricing import (
    price_formula,
    price_suggestion_apply,
    price_suggestion_compute,
    price_suggestion_dismiss,
    pricing_monthly_run,
)
from levqor.errors import AppError
from marketplace.models import TierPrice
from tests.factories import JobFactory, UserFactory
from tests.intelligence.metrics_data import rollups_save, timing_row
from tests.intelligence.rollups import read_as

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 1, 1, 15, tzinfo=UTC)
LOOKUP_KEY = "levqor_pro_monthly"


def _price(**inputs) -> Decimal:
    inputs.setdefault("p95_ms", 100.0)
    for name in ("ops", "infra", "refunds"):
        inputs[name] = Decimal(str(inputs.get(name, 0)))
    return price_formula(**inputs)["price"]


def test_the_reference_example_runs_1000_p95_100_ops_10_infra_20_is_39():
    assert _price(runs=1000, p95_ms=100, ops=10, infra=20) == Decimal("39.00")


@pytest.mark.parametrize(("inputs", "price"), [
    ({"runs": 0, "p95_ms": None}, "9.50"),            # no traffic: perf 0; load 0.5 -> 9.5
    ({"runs": 0, "p95_ms": 50}, "9.00"),              # fast: 9.5 - 2 = 7.5, the 9.0 floor wins
    ({"runs": 500, "p95_ms": 79.9}, "17.00"),         # load 1.0, fast: 19 - 2
    ({"runs": 500, "p95_ms": 80}, "19.00"),           # 80 is not under 80: perf 0
    ({"runs": 500, "p95_ms": 149.99}, "19.00"),
    ({"runs": 500, "p95_ms": 150}, "21.00"),          # 150 is not under 150: +2
    ({"runs": 1500, "p95_ms": 100}, "38.00"),         # load 0.5 + 1.5 = 2.0, the cap
    ({"runs": 9000, "p95_ms": 400}, "40.00"),         # load capped at 2.0: 38 + 2
    ({"runs": 1234, "p95_ms": 100}, "32.95"),         # 19 * 1.734 = 32.946 -> 32.95
    ({"runs": 2000, "ops": 100, "infra": 50, "refunds": 10}, "104.00"),  # 160 * 1.3 / 2
    ({"runs": 0, "ops": "33.33"}, "43.33"),           # 33.33 * 1.3 / max(1, 0) = 43.329
    ({"runs": 400, "infra": "6.25"}, "17.10"),        # cost floor 8.125, under 9.0; 19 * 0.9 = 17.1 wins
])
def test_the_formula_at_its_edges(inputs, price):
    assert _price(**inputs) == Decimal(price)


def test_a_half_cent_goes_to_the_even_cent_as_pythons_round_does():
    # 10.05 * 1.3 = 13.065 exactly in Decimal: to the even cent, 13.06 (round(13.065, 2) == 13.06 too).
    assert _price(runs=0, p95_ms=None, ops="10.05") == Decimal("13.06")
    assert round(13.065, 2) == 13.06


def _traffic(values_ms, *, at: datetime = NOW - timedelta(days=3)) -> None:
    minute = at.replace(second=0, microsecond=0)
    rollups_save([timing_row(minute + timedelta(minutes=i), "http.request",
                             {"route": "/api/v1/jobs", "method": "GET", "status_class": "2xx"}, values_ms)
                  for i in range(3)])


def _jobs(count: int, *, at: datetime, livemode: bool = True) -> None:
    owner = UserFactory()
    JobFactory._meta.model.objects.bulk_create(
        JobFactory.build(owner=owner, livemode=livemode, created_at=at) for _ in range(count))


def _ledger(kind: str, minor: int, *, day: date = NOW.date() - timedelta(days=2), currency="USD", source=None):
    ledger_entry_record(day=day, kind=kind, amount_minor=minor, currency=currency,
                        source=source or f"test:{kind}:{minor}:{day}:{currency}")


def test_inputs_come_from_jobs_metrics_and_the_ledger_of_the_last_30_days():
    _jobs(1000, at=NOW - timedelta(days=5))
    _jobs(7, at=NOW - timedelta(days=31))                 # before the window
    _jobs(5, at=NOW - timedelta(days=1), livemode=False)   # test mode: not counted
    _traffic([100.0] * 40)
    _traffic([5000.0] * 40, at=NOW - timedelta(days=40))   # before the window
    _ledger("ai_cost", 600)
    _ledger("stripe_fee", 400)                             # ops = 6.00 + 4.00
    _ledger("infra_cost", 2000)
    _ledger("refund", 0, source="zero refund")
    _ledger("revenue", 99900)                              # revenue is no cost
    _ledger("infra_cost", 70000, currency="EUR")           # another currency: not ours
    _ledger("infra_cost", 50000, day=NOW.date() - timedelta(days=45))

    suggestion = price_suggestion_compute(now=NOW)

    i = suggestion.inputs
    assert (i["runs"], i["p95_ms"], i["requests"]) == (1000, read_as(100.0), 120)
    assert (i["ops"], i["infra"], i["refunds"], i["currency"]) == ("10", "20", "0", "USD")
    assert (i["ai_cost_minor"], i["stripe_fees_minor"], i["ops_minor"], i["infra_minor"]) == (600, 400, 1000, 2000)
    assert (suggestion.suggested_minor, suggestion.currency) == (3900, "usd")  # the reference's 39.0
    assert suggestion.current_minor == 1900 and "TIER_PRICES_MINOR" in i["current_price_from"]
    assert suggestion.status == PriceSuggestion.Status.SUGGESTED and "1.3" in suggestion.formula


def test_without_traffic_perf_is_0_and_the_inputs_say_so():
    _jobs(500, at=NOW - timedelta(days=2))
    suggestion = price_suggestion_compute(now=NOW)
    assert suggestion.inputs["p95_ms"] is None and "perf taken as 0" in suggestion.inputs["p95_note"]
    assert suggestion.inputs["perf"] == "0" and suggestion.suggested_minor == 1900


def _synced_pro_price(fake_stripe) -> TierPrice:
    fake_stripe.put("products", {"id": "prod_pro", "name": "Levqor pro"})
    fake_stripe.put("prices", {"id": "price_pro_sync", "product": "prod_pro", "unit_amount": 1900, "currency": "usd",
                               "lookup_key": LOOKUP_KEY, "recurring": {"interval": "month"}, "active": True})
    return TierPrice.objects.create(tier="pro", livemode=True, stripe_product_id="prod_pro",
                                    stripe_price_id="price_pro_sync", lookup_key=LOOKUP_KEY, amount_minor=1900,
                                    currency="usd", source=TierPrice.Source.SYNC)


def _auto_apply(django_capture_on_commit_callbacks, *, stabilize=False):
    with django_capture_on_commit_callbacks(execute=True):  # waffle clears its cache on commit
        Flag.objects.update_or_create(name="PRICING_AUTO_APPLY", defaults={"everyone": True})
        if stabilize:
            Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": True})


def _busy_month():
    _jobs(1000, at=NOW - timedelta(days=5))
    _traffic([100.0] * 20)
    _ledger("ai_cost", 1000)
    _ledger("infra_cost", 2000)


def test_the_monthly_run_with_auto_apply_off_only_suggests(fake_stripe):
    old = _synced_pro_price(fake_stripe)
    _busy_month()
    suggestion = pricing_monthly_run(now=NOW)
    assert suggestion.status == PriceSuggestion.Status.SUGGESTED and "PRICING_AUTO_APPLY is off" in suggestion.note
    assert (suggestion.current_minor, suggestion.suggested_minor, suggestion.month) == (1900, 3900, date(2026, 11, 1))
    assert fake_stripe.requests == []
    old.refresh_from_db()
    assert old.active
    assert pricing_monthly_run(now=NOW + timedelta(days=1)) is None  # the month has its suggestion
    assert pricing_monthly_run(now=NOW + timedelta(days=30)).month == date(2026, 12, 1)


def test_the_monthly_run_with_auto_apply_on_publishes_the_new_pro_price_for_new_subscriptions(
        fake_stripe, django_capture_on_commit_callbacks):
    old = _synced_pro_price(fake_stripe)
    _busy_month()
    _auto_apply(django_capture_on_commit_callbacks)

    suggestion = pricing_monthly_run(now=NOW)

    request = fake_stripe.last("POST", "/v1/prices")
    assert request["form"]["product"] == "prod_pro" and request["form"]["unit_amount"] == 3900
    assert request["form"]["currency"] == "usd" and request["form"]["lookup_key"] == LOOKUP_KEY
    assert request["form"]["transfer_lookup_key"] is True and request["form"]["recurring"] == {"interval": "month"}
    assert request["idempotency_key"] == f"levqor-price-suggestion-{suggestion.pk}"
    assert request["api_key"] == "sk_live_fake_levqor"
    new = TierPrice.objects.get(active=True, tier="pro", livemode=True)
    assert (new.amount_minor, new.source, new.lookup_key, new.stripe_product_id) == (3900, "pricing", LOOKUP_KEY,
                                                                                      "prod_pro")
    old.refresh_from_db()
    assert not old.active
    # The lookup key moved to the new Price at Stripe; the old Price stays for the subscriptions sold at it.
    assert fake_stripe.get("prices", "price_pro_sync")["lookup_key"] is None
    assert fake_stripe.get("prices", new.stripe_price_id)["lookup_key"] == LOOKUP_KEY
    assert not [r for r in fake_stripe.requests if "subscription" in r["path"]]
    assert (suggestion.status, suggestion.stripe_price_id, suggestion.decided_by) == ("applied", new.stripe_price_id,
                                                                                     None)
    assert "PRICING_AUTO_APPLY" in suggestion.note
    # Applying again (a retry) publishes nothing more.
    with pytest.raises(AppError) as refused:
        price_suggestion_apply(suggestion=suggestion, actor=None)
    assert refused.value.code == "suggestion_decided"
    assert len(fake_stripe.calls("POST", "/v1/prices")) == 1


def test_a_retried_publish_gets_the_same_price_back_from_stripe(fake_stripe):
    _synced_pro_price(fake_stripe)
    _busy_month()
    suggestion = price_suggestion_compute(now=NOW)
    fake_stripe.fail_next(3, status=500)  # the SDK's request and its two retries
    with pytest.raises(AppError) as failing:
        price_suggestion_apply(suggestion=suggestion, actor=None)
    assert failing.value.code == "service_unavailable"
    assert TierPrice.objects.get(active=True).stripe_price_id == "price_pro_sync"
    price_suggestion_apply(suggestion=suggestion, actor=None)
    keys = {r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/prices")}
    assert keys == {f"levqor-price-suggestion-{suggestion.pk}"}
    assert TierPrice.objects.filter(source="pricing").count() == 1


def test_the_monthly_run_is_held_under_stabilize_mode(fake_stripe, django_capture_on_commit_callbacks):
    _synced_pro_price(fake_stripe)
    _busy_month()
    _auto_apply(django_capture_on_commit_callbacks, stabilize=True)
    suggestion = pricing_monthly_run(now=NOW)
    assert suggestion.status == PriceSuggestion.Status.HELD and "stabilize" in suggestion.note
    held = HeldAction.objects.get(action="pricing.apply")
    assert held.detail == {"suggestion": suggestion.pk, "tier": "pro", "current_minor": 1900, "suggested_minor": 3900}
    assert fake_stripe.requests == []
    assert TierPrice.objects.get(active=True).stripe_price_id == "price_pro_sync"


def test_the_same_price_as_now_is_nothing_to_apply(fake_stripe, django_capture_on_commit_callbacks):
    _synced_pro_price(fake_stripe)
    _jobs(500, at=NOW - timedelta(days=2))  # load 1.0, no traffic: 19.00
    _auto_apply(django_capture_on_commit_callbacks)
    suggestion = pricing_monthly_run(now=NOW)
    assert suggestion.suggested_minor == suggestion.current_minor == 1900
    assert "nothing to apply" in suggestion.note and suggestion.status == "suggested"
    with pytest.raises(AppError) as refused:
        price_suggestion_apply(suggestion=suggestion, actor=None)
    assert refused.value.code == "price_unchanged"
    assert fake_stripe.requests == []


def test_without_stripe_the_suggestion_is_stored_and_applying_says_billing_is_not_configured(
        settings, django_capture_on_commit_callbacks):
    settings.STRIPE_SECRET_KEY = ""
    _busy_month()
    _auto_apply(django_capture_on_commit_callbacks)
    suggestion = pricing_monthly_run(now=NOW)
    assert suggestion.status == "suggested" and suggestion.suggested_minor == 3900
    assert "Billing is not configured" in suggestion.note
    with pytest.raises(AppError) as refused:
        price_suggestion_apply(suggestion=suggestion, actor=None)
    assert refused.value.code == "billing_not_configured"


def test_before_any_sync_applying_says_to_sync_the_products_first(fake_stripe):
    _busy_month()
    suggestion = price_suggestion_compute(now=NOW)
    with pytest.raises(AppError) as refused:
        price_suggestion_apply(suggestion=suggestion, actor=None)
    assert refused.value.code == "tier_price_missing" and "stripe_sync_products" in refused.value.message
    assert fake_stripe.requests == []


def test_the_task_runs_the_monthly_computation_once_a_month(clock):
    first = tasks.pricing_monthly()
    assert PriceSuggestion.objects.get(pk=first).trigger == "schedule"
    assert tasks.pricing_monthly() is None


@pytest.mark.django_db(transaction=True)
def test_a_dismissal_while_the_price_is_being_published_is_refused_not_overwritten(fake_stripe):
    """An operator dismisses the suggestion at the moment another applies it (the fake Stripe is
    creating the Price, in its own thread and database connection): the dismissal is refused and
    the suggestion ends applied, as the tier's price says, never "applied" over "dismissed"."""
    from django.db import connection

    operator = UserFactory(is_staff=True)
    _synced_pro_price(fake_stripe)
    _busy_month()
    suggestion = price_suggestion_compute(now=NOW)
    seen = {}

    def dismiss_meanwhile(fake, obj, form):
        try:
            seen["status"] = PriceSuggestion.objects.get(pk=suggestion.pk).status
            price_suggestion_dismiss(suggestion=suggestion, actor=operator)
        except AppError as exc:
            seen["refused"] = exc.code
        finally:
            connection.close()

    fake_stripe.on_create["prices"] = dismiss_meanwhile
    applied = price_suggestion_apply(suggestion=suggestion, actor=None)
    assert (seen["status"], seen.get("refused")) == ("applying", "suggestion_decided")
    suggestion.refresh_from_db()
    assert suggestion.status == applied.status == "applied" and suggestion.decided_by is None
    assert suggestion.stripe_price_id == TierPrice.objects.get(active=True, tier="pro").stripe_price_id
    with pytest.raises(AppError) as refused:
        price_suggestion_dismiss(suggestion=suggestion, actor=operator)
    assert refused.value.code == "suggestion_decided"


def test_a_failed_publish_gives_the_suggestion_back_to_be_dismissed(fake_stripe):
    _synced_pro_price(fake_stripe)
    _busy_month()
    suggestion = price_suggestion_compute(now=NOW)
    fake_stripe.fail_next(3, status=500)
    with pytest.raises(AppError):
        price_suggestion_apply(suggestion=suggestion, actor=None)
    suggestion.refresh_from_db()
    assert suggestion.status == "suggested"
    assert price_suggestion_dismiss(suggestion=suggestion, actor=UserFactory()).status == "dismissed"
