"""Discounts (issue 11 §4): the reference rule over the last 7 days' signups and paid conversions
(real users and subscriptions), one code a day (LEVQOR- + 8 of [A-Z0-9], unique), its Stripe
Coupon + Promotion Code with idempotency keys (asserted on the fake), active only with
PRICING_AUTO_APPLY on and not stabilized, expired codes deactivated at Stripe too."""

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from waffle.models import Flag, Switch

from intelligence import tasks
from intelligence.models import DiscountSuggestion, HeldAction
from intelligence.services.automation import STABILIZE_SWITCH
from intelligence.services.discounts import discount_activate, discount_daily_run, discount_deactivate, discount_rule
from levqor.errors import AppError
from marketplace.models import PromotionCode, Subscription
from marketplace.services import promotions
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Today's 00:30 UTC run, on whatever day the suite runs: the services' checks against Django's clock
# (a code past valid_until) see the same days as the runs given `now` (a fixed date expires).
NOW = timezone.now().replace(hour=0, minute=30, second=0, microsecond=0)
CODE = re.compile(r"^LEVQOR-[A-Z0-9]{8}$")


@pytest.mark.parametrize(("signups", "paid", "expected"), [
    (0, 0, ("low_signups", 15, 14)),
    (4, 9, ("low_signups", 15, 14)),       # signups decide first
    (5, 0, ("low_conversions", 10, 7)),
    (5, 1, ("low_conversions", 10, 7)),
    (5, 2, ("healthy_growth", 5, 30)),
    (50, 20, ("healthy_growth", 5, 30)),
])
def test_the_reference_rule(signups, paid, expected):
    assert discount_rule(signups=signups, paid=paid) == expected


def _signups(count: int, *, at: datetime) -> list:
    return [UserFactory(created_at=at) for _ in range(count)]


def _subscribe(user, *, at: datetime, tier="pro", livemode=True, status="active", n=[0]):  # noqa: B006
    n[0] += 1
    return Subscription.objects.create(stripe_id=f"sub_test_{n[0]}", user=user, livemode=livemode, tier=tier,
                                       status=status, created_at=at)


def _week(*, signups: int, paid: int) -> None:
    users = _signups(signups, at=NOW - timedelta(days=2))
    for user in users[:paid]:
        _subscribe(user, at=NOW - timedelta(days=1))


def test_the_inputs_count_real_signups_and_paid_subscriptions_of_the_last_7_days():
    users = _signups(6, at=NOW - timedelta(days=3))
    _signups(3, at=NOW - timedelta(days=8))                       # before the window
    UserFactory(created_at=NOW - timedelta(days=1), is_staff=True)  # an operator: not a signup
    _subscribe(users[0], at=NOW - timedelta(days=1))
    _subscribe(users[0], at=NOW - timedelta(days=1), tier="enterprise")  # the same user: one conversion
    _subscribe(users[1], at=NOW - timedelta(days=1), livemode=False)     # test mode
    _subscribe(users[2], at=NOW - timedelta(days=1), status="incomplete")  # never paid
    _subscribe(users[3], at=NOW - timedelta(days=9))                     # before the window
    _subscribe(users[4], at=NOW - timedelta(hours=5), tier="sandbox")    # no paid tier

    suggestion = discount_daily_run(now=NOW)

    assert (suggestion.inputs["signups"], suggestion.inputs["paid"]) == (6, 1)
    assert (suggestion.reason, suggestion.percent_off, suggestion.duration_days) == ("low_conversions", 10, 7)
    assert suggestion.valid_until == NOW + timedelta(days=7)


def test_codes_are_levqor_and_8_of_a_z_0_9_and_a_taken_one_is_not_reused(monkeypatch):
    codes = {promotions.promotion_code_generate() for _ in range(200)}
    assert len(codes) == 200 and all(CODE.match(code) for code in codes)
    PromotionCode.objects.create(code="LEVQOR-TAKEN000", percent_off=5, reason="x")
    # secrets gives the taken code first, then a free one: the row gets the free one.
    draws = iter("TAKEN000" + "FREE0001")
    monkeypatch.setattr(promotions.secrets, "choice", lambda alphabet: next(draws))
    promotion = promotions.promotion_code_create(percent_off=5, reason="healthy_growth", valid_until=NOW)
    assert promotion.code == "LEVQOR-FREE0001" and not promotion.active


def test_one_discount_a_day_whatever_the_reruns(fake_stripe):
    first = discount_daily_run(now=NOW)
    assert discount_daily_run(now=NOW + timedelta(hours=20)).pk == first.pk
    assert DiscountSuggestion.objects.count() == PromotionCode.objects.count() == 1
    assert len(fake_stripe.calls("POST", "/v1/coupons")) == 1
    tomorrow = discount_daily_run(now=NOW + timedelta(days=1))
    assert tomorrow.pk != first.pk and tomorrow.promotion_code.code != first.promotion_code.code


def _auto_apply(django_capture_on_commit_callbacks, *, stabilize=False):
    with django_capture_on_commit_callbacks(execute=True):
        Flag.objects.update_or_create(name="PRICING_AUTO_APPLY", defaults={"everyone": True})
        if stabilize:
            Switch.objects.update_or_create(name=STABILIZE_SWITCH, defaults={"active": True})


def test_with_auto_apply_on_the_code_is_a_stripe_coupon_and_active_promotion_code(
        fake_stripe, django_capture_on_commit_callbacks):
    _week(signups=8, paid=3)
    _auto_apply(django_capture_on_commit_callbacks)

    suggestion = discount_daily_run(now=NOW)

    promotion = suggestion.promotion_code
    assert (suggestion.reason, suggestion.status) == ("healthy_growth", "active")
    assert CODE.match(promotion.code) and promotion.active and promotion.percent_off == 5
    coupon = fake_stripe.last("POST", "/v1/coupons")
    assert coupon["form"]["percent_off"] == 5.0 and coupon["form"]["duration"] == "once"
    assert coupon["form"]["redeem_by"] == int((NOW + timedelta(days=30)).timestamp())
    assert coupon["idempotency_key"] == f"levqor-coupon-{promotion.code}"
    code = fake_stripe.last("POST", "/v1/promotion_codes")
    assert code["form"]["code"] == promotion.code and code["form"]["active"] is True
    assert code["form"]["promotion"] == {"type": "coupon", "coupon": promotion.stripe_coupon_id}
    assert code["form"]["expires_at"] == int(promotion.valid_until.timestamp())
    assert code["idempotency_key"] == f"levqor-promotion-code-{promotion.code}"
    assert fake_stripe.get("promotion_codes", promotion.stripe_promotion_code_id)["active"] is True
    assert not HeldAction.objects.exists()


def test_with_auto_apply_off_the_code_waits_inactive_at_stripe_until_an_operator_activates_it(
        fake_stripe, operator):
    _week(signups=2, paid=0)
    suggestion = discount_daily_run(now=NOW)
    promotion = suggestion.promotion_code
    assert (suggestion.reason, suggestion.percent_off, suggestion.status) == ("low_signups", 15, "suggested")
    assert not promotion.active and "PRICING_AUTO_APPLY is off" in suggestion.note
    assert fake_stripe.last("POST", "/v1/promotion_codes")["form"]["active"] is False

    discount_activate(suggestion=suggestion, actor=operator.user)
    promotion.refresh_from_db()
    suggestion.refresh_from_db()
    assert promotion.active and suggestion.status == "active" and suggestion.decided_by == operator.user
    update = fake_stripe.last("POST", f"/v1/promotion_codes/{promotion.stripe_promotion_code_id}")
    assert update["form"] == {"active": True}

    discount_deactivate(suggestion=suggestion, actor=operator.user)
    promotion.refresh_from_db()
    assert not promotion.active
    assert fake_stripe.get("promotion_codes", promotion.stripe_promotion_code_id)["active"] is False
    with pytest.raises(AppError) as refused:
        discount_deactivate(suggestion=suggestion, actor=operator.user)
    assert refused.value.code == "suggestion_decided"


def test_under_stabilize_mode_the_code_is_held(fake_stripe, django_capture_on_commit_callbacks):
    _auto_apply(django_capture_on_commit_callbacks, stabilize=True)
    suggestion = discount_daily_run(now=NOW)
    assert suggestion.status == "held" and not suggestion.promotion_code.active
    held = HeldAction.objects.get(action="discounts.activate")
    assert held.detail["code"] == suggestion.promotion_code.code and held.detail["percent_off"] == 15
    assert fake_stripe.last("POST", "/v1/promotion_codes")["form"]["active"] is False


def test_without_stripe_the_code_is_stored_only_and_says_so(settings, django_capture_on_commit_callbacks):
    settings.STRIPE_SECRET_KEY = ""
    suggestion = discount_daily_run(now=NOW)
    assert "Stripe is not configured" in suggestion.note and suggestion.promotion_code.stripe_coupon_id == ""
    _auto_apply(django_capture_on_commit_callbacks)
    tomorrow = discount_daily_run(now=NOW + timedelta(days=1))
    assert tomorrow.status == "active" and tomorrow.promotion_code.active
    assert "Stripe is not configured" in tomorrow.note


def test_a_stripe_failure_leaves_the_code_inactive_and_a_rerun_that_day_activates_it(
        fake_stripe, django_capture_on_commit_callbacks):
    _auto_apply(django_capture_on_commit_callbacks)
    fake_stripe.fail_next(3, status=500)
    suggestion = discount_daily_run(now=NOW)
    assert suggestion.status == "suggested" and not suggestion.promotion_code.active
    assert "Not activated" in suggestion.note
    again = discount_daily_run(now=NOW + timedelta(hours=1))
    assert again.pk == suggestion.pk
    again.promotion_code.refresh_from_db()
    assert again.status == "active" and again.promotion_code.active
    assert fake_stripe.get("promotion_codes", again.promotion_code.stripe_promotion_code_id)["active"] is True
    # The coupon was asked for three times (the failures) and once more, all under one key.
    assert {r["idempotency_key"] for r in fake_stripe.calls("POST", "/v1/coupons")} == {
        f"levqor-coupon-{suggestion.promotion_code.code}"}


def test_expired_codes_are_deactivated_here_and_at_stripe(fake_stripe, django_capture_on_commit_callbacks):
    _auto_apply(django_capture_on_commit_callbacks)
    first = discount_daily_run(now=NOW)  # low_signups: 14 days
    assert first.promotion_code.active
    discount_daily_run(now=NOW + timedelta(days=14, minutes=1))
    first.refresh_from_db()
    first.promotion_code.refresh_from_db()
    assert first.status == "expired" and not first.promotion_code.active
    assert fake_stripe.get("promotion_codes", first.promotion_code.stripe_promotion_code_id)["active"] is False
    with pytest.raises(AppError) as refused:
        discount_activate(suggestion=first, actor=None)
    assert refused.value.code == "discount_expired"


def test_the_schedules_task_makes_todays_discount_once(fake_stripe):
    first = tasks.discounts_daily()
    assert tasks.discounts_daily() == first
    assert DiscountSuggestion.objects.get().day == DiscountSuggestion.objects.get(pk=first).created_at.date()


def test_a_run_given_its_time_judges_expiry_at_that_time_not_by_the_wall_clock(
        fake_stripe, clock, django_capture_on_commit_callbacks):
    """One clock: the run at NOW (a replayed or backfilled day) activates the code valid for 14 days
    from NOW, though Django's clock is already past that; the expiry run then ends it."""
    _auto_apply(django_capture_on_commit_callbacks)
    clock.advance(20 * 86400)
    suggestion = discount_daily_run(now=NOW)  # low_signups: 14 days
    assert (suggestion.status, suggestion.decided_at) == ("active", NOW), suggestion.note
    assert fake_stripe.get("promotion_codes", suggestion.promotion_code.stripe_promotion_code_id)["active"] is True
    discount_daily_run()
    suggestion.refresh_from_db()
    assert suggestion.status == "expired"
